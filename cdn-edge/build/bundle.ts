import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

/** The build's own options (config/esbuild.cjs), so the measured size is the shipped size. */
const { esbuildOptions } = createRequire(import.meta.url)('../config/esbuild.cjs') as {
  esbuildOptions: (secret: string | undefined) => BuildOptions;
};

export const HANDLERS = {
  viewerRequest: fileURLToPath(new URL('../src/handlers/viewer-request.ts', import.meta.url)),
  originResponse: fileURLToPath(new URL('../src/handlers/origin-response.ts', import.meta.url)),
} as const;

// A stand-in as long as a real secret (64 hex digits), so the size counts it.
const MEASURING_SECRET = 'f'.repeat(64);

/** Bundles one handler in memory and returns its minified size in bytes. */
export async function bundleSize(entry: string): Promise<number> {
  const result = await build({
    ...esbuildOptions(MEASURING_SECRET),
    entryPoints: [entry],
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles.reduce((total, file) => total + file.contents.byteLength, 0);
}
