/**
 * Builds the agent as one file, `agent/dist/gantry-agent.cjs`: Node 22 plus this file is all a
 * swarm manager needs (no npm install on the host). Run with `npm run build:agent`.
 */
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
export const agentBundlePath = join(here, 'dist', 'gantry-agent.cjs');

/**
 * dockerode loads, at require time, what the agent never uses: ssh2 (ssh:// engine hosts), gRPC
 * and its proto loader (BuildKit sessions) and tar-fs (build contexts): ~45 MB of resident memory
 * on an idle agent. The bundle gets stand-ins that fail loudly if ever called.
 */
const unusedByTheAgent: Plugin = {
  name: 'unused-by-the-agent',
  setup(b) {
    b.onResolve({ filter: /^(ssh2|@grpc\/grpc-js|@grpc\/proto-loader|tar-fs)$/ }, (args) => ({
      path: args.path,
      namespace: 'unused',
    }));
    b.onLoad({ filter: /.*/, namespace: 'unused' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is left out of the Gantry agent bundle: the agent talks to the local Docker socket only`)}); };
module.exports = new Proxy({}, { get: (_, key) => (key === '__esModule' ? false : fail) });`,
      loader: 'js',
    }));
  },
};

export async function buildAgent(): Promise<{ path: string; bytes: number }> {
  await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    outfile: agentBundlePath,
    bundle: true,
    platform: 'node',
    target: 'node22',
    // CommonJS: dockerode's dependencies use require() and __dirname, which an ESM bundle lacks.
    format: 'cjs',
    minify: true,
    legalComments: 'linked',
    // The SDK's ES module builds first: esbuild then drops the hundreds of commands and schemas
    // the agent never sends (the CommonJS builds cannot be tree-shaken).
    mainFields: ['module', 'main'],
    plugins: [unusedByTheAgent],
    logLevel: 'warning',
  });
  return { path: agentBundlePath, bytes: (await stat(agentBundlePath)).size };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { path, bytes } = await buildAgent();
  console.log(`${path}: ${(bytes / 1024).toFixed(0)} KiB`);
}
