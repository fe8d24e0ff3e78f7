import { GantryError } from '../functions/src/errors.ts';

/**
 * The CLI's exit codes (README, "The CLI"). Scripts branch on them, so they only ever grow.
 */
export const exitCodes = {
  /** Done: the command did what it was asked (a deploy ended Deployed). */
  ok: 0,
  /** It ran, and the outcome is a failure: a deploy rolled back, a plan found blockers, a put was declined. */
  failed: 1,
  /** Bad input (arguments, names, image reference, config file): nothing was written (usually nothing read either). */
  usage: 2,
  /** What the command needs is not there or may not be used (no config, a release not in history, a revision that cannot run). Nothing was written. */
  refused: 3,
  /** AWS (or the endpoint) failed: unreachable, access denied, throttled past the retries. */
  aws: 4,
  /** Interrupted while waiting: the execution goes on; `gantry status` follows it. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** Bad input: exit 2, one line naming what is wrong. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The command cannot go on against this state (exit 3); nothing was written. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
}

/** Gantry's own error names that mean "bad input" and "not there / not allowed". */
const usageErrors = new Set(['InputInvalid', 'ConfigInvalid']);
const refusedErrors = new Set(['ConfigNotFound', 'ImageNotFound', 'NoPreviousRelease', 'ServiceNotManaged']);

/** The exit code and the one line a failure prints. */
export function describeFailure(error: unknown): { code: ExitCode; line: string } {
  if (error instanceof UsageError) return { code: exitCodes.usage, line: error.message };
  if (error instanceof RefusedError) return { code: exitCodes.refused, line: error.message };
  if (error instanceof GantryError) {
    if (usageErrors.has(error.name))
      return { code: exitCodes.usage, line: `${error.name}: ${error.message}` };
    if (refusedErrors.has(error.name))
      return { code: exitCodes.refused, line: `${error.name}: ${error.message}` };
  }
  const named = error as { name?: string; message?: string; cause?: { name?: string; message?: string } };
  // awsCall wraps AWS's throttling and 5xx as TransientAwsError; its cause has AWS's own name.
  const root = named.name === 'TransientAwsError' && named.cause?.name ? named.cause : named;
  return {
    code: exitCodes.aws,
    line: `${root.name ?? 'Error'}: ${(root.message ?? String(error)).split('\n')[0]}`,
  };
}

/** A plain text table: a header row, then one line per row, columns padded to their widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** A timestamp for people: to the second, UTC. */
export function when(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
