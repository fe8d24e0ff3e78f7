import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The esbuild options serverless.yml uses, so the measured size is the shipped size. */
export const HANDLERS = {
  viewerRequest: fileURLToPath(new URL('../src/handlers/viewer-request.ts', import.meta.url)),
  originResponse: fileURLToPath(new URL('../src/handlers/origin-response.ts', import.meta.url)),
} as const;

/** Bundles one handler in memory and returns its minified size in bytes. */
export async function bundleSize(entry: string): Promise<number> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: ['sharp'],
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles.reduce((total, file) => total + file.contents.byteLength, 0);
}
