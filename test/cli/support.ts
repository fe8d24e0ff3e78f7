import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** The launcher the package's `bin` names: tests run the CLI exactly as `npx gantry` does. */
export const launcher = 'cli/gantry.mjs';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `gantry <args>` in a child process with Node 22 (the test runner's own). */
export function gantry(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
) {
  return new Promise<CliResult>((resolve, reject) => {
    execFile(
      process.execPath,
      [launcher, ...args],
      {
        // No AWS configuration of the machine may leak into a test: only what the test gives.
        env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...options.env },
        // A hang guard: a loaded machine makes a spawn slow, never wrong.
        timeout: options.timeoutMs ?? 180_000,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : undefined;
        if (code === undefined) reject(error);
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface ServedSandbox {
  endpoint: string;
  /** Global options pointing the CLI at this sandbox. */
  flags: string[];
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `npm run sandbox -- serve` (the same entry: sandbox/cli.ts serve) on a free port and
 * resolves once it prints its endpoint, i.e. once the demo fleet is seeded.
 */
export async function serveSandbox(speed = 200): Promise<ServedSandbox> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'sandbox/cli.ts', 'serve', '--port', '0', '--speed', String(speed)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`sandbox serve exited (${code}) before printing its endpoint`)),
    );
    lines.on('line', (line) => {
      const match = /^endpoint: (http:\/\/\S+)$/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
  });
  return {
    endpoint,
    flags: ['--sandbox', '--endpoint', endpoint],
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
