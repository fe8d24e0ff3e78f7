import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { parse } from 'yaml';

const root = new URL('..', import.meta.url).pathname;

export interface BundleFigures {
  functionKey: string;
  clients: string[];
  bytes: number;
  gzipBytes: number;
  coldImportMs: number;
  naiveBytes: number;
  naiveGzipBytes: number;
  naiveColdImportMs: number;
}

/** Builds every function as serverless.yml does and a naive bundle of the same SDK clients. */
export async function measureBundles(runs: number): Promise<BundleFigures[]> {
  const config = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
    functions: Record<string, { handler: string }>;
    custom: { esbuild: { banner: { js: string }; mainFields: string[] } };
  };
  const out = mkdtempSync(join(tmpdir(), 'gantry-bench-'));
  const figures: BundleFigures[] = [];
  for (const [functionKey, { handler }] of Object.entries(config.functions)) {
    const entry = join(root, `${handler.slice(0, handler.lastIndexOf('.'))}.ts`);
    const outfile = join(out, `${functionKey}.mjs`);
    const result = await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      minify: true,
      keepNames: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      mainFields: config.custom.esbuild.mainFields,
      banner: config.custom.esbuild.banner,
      metafile: true,
      logLevel: 'silent',
    });
    const clients = [
      ...new Set(
        // Clients whose code made it into the bundle, not every module esbuild looked at.
        Object.values(result.metafile.outputs)
          .flatMap((output) => Object.entries(output.inputs))
          .filter(([, input]) => input.bytesInOutput > 0)
          .map(([path]) => /node_modules\/@aws-sdk\/(client-[a-z-]+)\//.exec(path)?.[1])
          .filter((client): client is string => client !== undefined),
      ),
    ].sort();
    const naiveEntry = join(out, `${functionKey}-naive.mjs`);
    writeFileSync(
      naiveEntry,
      `${clients.map((client, index) => `import * as c${index} from '@aws-sdk/${client}';`).join('\n')}\nexport const clients = [${clients.map((_, index) => `c${index}`).join(', ')}];\n`,
    );
    const naiveOut = join(out, `${functionKey}-naive.cjs`);
    await build({
      entryPoints: [naiveEntry],
      outfile: naiveOut,
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node22',
      treeShaking: false,
      nodePaths: [join(root, 'node_modules')],
      logLevel: 'silent',
    });
    figures.push({
      functionKey,
      clients,
      bytes: statSync(outfile).size,
      gzipBytes: gzipSync(readFileSync(outfile)).length,
      coldImportMs: coldImport(outfile, runs),
      naiveBytes: statSync(naiveOut).size,
      naiveGzipBytes: gzipSync(readFileSync(naiveOut)).length,
      naiveColdImportMs: coldImport(naiveOut, runs),
    });
  }
  return figures;
}

/** Median time for a fresh Node process to import the file, measured inside it. */
function coldImport(file: string, runs: number): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`;
  const times = Array.from({ length: runs }, () =>
    Number(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: {
          ...process.env,
          AWS_REGION: 'eu-west-1',
          DEPLOY_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:bench',
          GANTRY_COORDINATION_TABLE: 'bench-coordination',
        },
      }).toString(),
    ),
  ).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}
