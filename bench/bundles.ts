import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { parse } from 'yaml';

const root = new URL('..', import.meta.url).pathname;

/** The packages besides the SDK a function may bundle, each stubbed out once to price it. */
export const pricedPackages = {
  zod: /^zod(\/.*)?$/,
  powertools: /^@aws-lambda-powertools\//,
  middy: /^@middy\//,
} as const;
export type PricedPackage = keyof typeof pricedPackages;

export interface BundleSize {
  bytes: number;
  gzipBytes: number;
  /** Median cold import, wall-clock milliseconds. */
  coldImportMs: number;
  /** Median CPU time (user + system) of the cold import, milliseconds: what a busy machine distorts least. */
  coldImportCpuMs: number;
}

export interface BundleFigures {
  functionKey: string;
  clients: string[];
  /** The function as serverless.yml builds it. */
  bundle: BundleSize;
  /** The same SDK clients, whole (no tree shaking, CommonJS), minified: what bundling naively gives. */
  minified: BundleSize;
  /** The floor: only the SDK clients and commands the function uses, minified, ESM, tree-shaken. */
  bare: BundleSize;
  /** Median of the per-round ratios of the function's cold import CPU time to the bare bundle's. */
  importRatioToBare: number;
  importRatioToMinified: number;
  /** Cold import CPU milliseconds each package costs: the function minus the function with it stubbed out. */
  packageCostMs: Partial<Record<PricedPackage, number>>;
}

/**
 * Builds every function as serverless.yml does, and beside it two baselines of the same SDK
 * clients: a minified whole-client bundle and the bare ESM floor. Then prices zod, Powertools and
 * middy by stubbing each out of the function's bundle.
 */
export async function measureBundles(runs: number): Promise<BundleFigures[]> {
  const config = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
    functions: Record<string, { handler: string }>;
    custom: { esbuild: { banner: { js: string }; mainFields: string[] } };
  };
  const out = mkdtempSync(join(tmpdir(), 'gantry-bench-'));
  // The function's own build options: the baselines use them too, so only the input differs.
  const asServerless: BuildOptions = {
    bundle: true,
    minify: true,
    keepNames: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    mainFields: config.custom.esbuild.mainFields,
    banner: config.custom.esbuild.banner,
    logLevel: 'silent',
  };
  const figures: BundleFigures[] = [];
  try {
    for (const [functionKey, { handler }] of Object.entries(config.functions)) {
      const entry = join(root, `${handler.slice(0, handler.lastIndexOf('.'))}.ts`);
      const outfile = join(out, `${functionKey}.mjs`);
      const result = await build({ ...asServerless, entryPoints: [entry], outfile, metafile: true });
      // Only what made it into the bundle, not every module esbuild looked at.
      const bundled = Object.values(result.metafile.outputs)
        .flatMap((output) => Object.entries(output.inputs))
        .filter(([, input]) => input.bytesInOutput > 0)
        .map(([path]) => path);
      const clients = [
        ...new Set(
          bundled
            .map((path) => /node_modules\/@aws-sdk\/(client-[a-z-]+)\//.exec(path)?.[1])
            .filter((client): client is string => client !== undefined),
        ),
      ].sort();

      const minifiedEntry = join(out, `${functionKey}-minified.mjs`);
      writeFileSync(
        minifiedEntry,
        `${clients.map((client, index) => `import * as c${index} from '@aws-sdk/${client}';`).join('\n')}\nexport const clients = [${clients.map((_, index) => `c${index}`).join(', ')}];\n`,
      );
      const minifiedOut = join(out, `${functionKey}-minified.cjs`);
      await build({
        entryPoints: [minifiedEntry],
        outfile: minifiedOut,
        bundle: true,
        minify: true,
        format: 'cjs',
        platform: 'node',
        target: 'node22',
        treeShaking: false,
        nodePaths: [join(root, 'node_modules')],
        logLevel: 'silent',
      });

      const bareEntry = join(out, `${functionKey}-bare-entry.mjs`);
      writeFileSync(
        bareEntry,
        bareSource(sdkImports(bundled.filter((path) => !path.includes('node_modules/')))),
      );
      const bareOut = join(out, `${functionKey}-bare.mjs`);
      await build({
        ...asServerless,
        entryPoints: [bareEntry],
        outfile: bareOut,
        nodePaths: [join(root, 'node_modules')],
      });

      const priced = (Object.keys(pricedPackages) as PricedPackage[]).filter((name) =>
        bundled.some((path) => pricedPackages[name].test(packageOf(path) ?? '')),
      );
      const withoutFiles: [PricedPackage, string][] = [];
      for (const name of priced) {
        const file = join(out, `${functionKey}-without-${name}.mjs`);
        await build({
          ...asServerless,
          entryPoints: [entry],
          outfile: file,
          plugins: [stubOut(pricedPackages[name])],
        });
        withoutFiles.push([name, file]);
      }

      const times = coldImports(
        [outfile, minifiedOut, bareOut, ...withoutFiles.map(([, file]) => file)],
        runs,
      );
      const [fn = [], minified = [], bare = [], ...without] = times;
      figures.push({
        functionKey,
        clients,
        bundle: size(outfile, fn),
        minified: size(minifiedOut, minified),
        bare: size(bareOut, bare),
        importRatioToBare: median(fn.map((time, round) => time.cpuMs / (bare[round]?.cpuMs ?? Number.NaN))),
        importRatioToMinified: median(
          fn.map((time, round) => time.cpuMs / (minified[round]?.cpuMs ?? Number.NaN)),
        ),
        packageCostMs: Object.fromEntries(
          withoutFiles.map(([name], index) => [
            name,
            median(fn.map((time, round) => time.cpuMs - (without[index]?.[round]?.cpuMs ?? Number.NaN))),
          ]),
        ),
      });
    }
    return figures;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function size(file: string, times: ImportTime[]): BundleSize {
  return {
    bytes: statSync(file).size,
    gzipBytes: gzipSync(readFileSync(file)).length,
    coldImportMs: median(times.map((time) => time.wallMs)),
    coldImportCpuMs: median(times.map((time) => time.cpuMs)),
  };
}

function packageOf(path: string): string | undefined {
  return /node_modules\/((?:@[^/]+\/)?[^/]+(?:\/[^/]+)?)/.exec(path)?.[1];
}

/** The SDK values (not types) Gantry's own bundled files import, by client package. */
function sdkImports(sourceFiles: string[]): Map<string, Set<string>> {
  const imports = new Map<string, Set<string>>();
  for (const file of sourceFiles) {
    const text = readFileSync(join(root, file.replace(/^(\.\.\/)+/, '')), 'utf8');
    for (const match of text.matchAll(
      /import\s+(type\s+)?\{([^}]*)\}\s+from\s+'(@aws-sdk\/client-[a-z-]+)'/g,
    )) {
      const [, typeOnly, names = '', client = ''] = match;
      if (typeOnly !== undefined) continue;
      const values = names
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '' && !name.startsWith('type '))
        .map((name) => name.split(/\s+as\s+/)[0] as string);
      const set = imports.get(client) ?? new Set<string>();
      for (const name of values) set.add(name);
      imports.set(client, set);
    }
  }
  return imports;
}

/**
 * The floor: the same SDK values, each client constructed once at import as the handlers do
 * (construction is part of any function's cold start), nothing else.
 */
function bareSource(imports: Map<string, Set<string>>): string {
  const lines: string[] = [];
  const clients: string[] = [];
  const others: string[] = [];
  for (const [client, names] of [...imports].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`import { ${[...names].sort().join(', ')} } from '${client}';`);
    for (const name of names) (/Client$/.test(name) ? clients : others).push(name);
  }
  lines.push(`export const clients = [${clients.map((name) => `new ${name}({})`).join(', ')}];`);
  lines.push(`export const values = [${others.join(', ')}];`);
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces the packages matching `filter` with a stand-in that has the same export names and
 * absorbs any use (property, call, `new`): the bundle still initialises, minus the package's cost.
 */
function stubOut(filter: RegExp): Plugin {
  return {
    name: 'stub-out',
    setup(builder) {
      builder.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'stub-out' }));
      builder.onLoad({ filter: /.*/, namespace: 'stub-out' }, async (args) => {
        const names = Object.keys((await import(args.path)) as object).filter((name) => name !== 'default');
        const stand = `const stand = new Proxy(function () {}, { get: (_, key) => (key === Symbol.toPrimitive ? () => '' : stand), apply: () => stand, construct: () => stand });`;
        const exports = names.map((name) => `export { stand as ${JSON.stringify(name)} };`).join('\n');
        return { contents: `${stand}\nexport default stand;\n${exports}\n`, loader: 'js' };
      });
    },
  };
}

/**
 * Cold import times of `files`, one fresh Node process per import, measured inside it. The files
 * take turns round by round, so a load spike on a shared machine hits all of them alike; ratios
 * are then taken within a round.
 */
function coldImports(files: string[], runs: number): ImportTime[][] {
  const times = files.map((): ImportTime[] => []);
  for (let round = 0; round < runs; round++) {
    files.forEach((file, index) => {
      times[index]?.push(coldImport(file));
    });
  }
  return times;
}

interface ImportTime {
  wallMs: number;
  cpuMs: number;
}

function coldImport(file: string): ImportTime {
  const script = `const t = performance.now(); const c = process.cpuUsage(); await import(${JSON.stringify(file)}); const u = process.cpuUsage(c); console.log(JSON.stringify({ wallMs: performance.now() - t, cpuMs: (u.user + u.system) / 1000 }));`;
  return JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        ...process.env,
        AWS_REGION: 'eu-west-1',
        DEPLOY_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:bench',
        GANTRY_COORDINATION_TABLE: 'bench-coordination',
      },
    }).toString(),
  ) as ImportTime;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
