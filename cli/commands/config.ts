import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { parseDeployConfig } from '../../functions/src/config/load-config.ts';
import { ConfigInvalid } from '../../functions/src/errors.ts';
import { appEnvParameters, readParameter, writeParameter } from '../../functions/src/parameters.ts';
import { configChangeOf, indexConfigChange } from '../../functions/src/repository-index/config-change.ts';
import type { CliContext } from '../context.ts';
import { lineDiff } from '../diff.ts';
import { appEnvArguments } from '../names.ts';
import { type ExitCode, exitCodes, type Output, RefusedError, UsageError } from '../output.ts';

/**
 * "Standard parameters have a value limit of 4 KB" (SDK model, @aws-sdk/client-ssm
 * PutParameterRequest.Value); AWS answers a longer value with a ValidationException. Gantry writes
 * its config as a Standard String parameter (functions/src/parameters.ts).
 */
const maxStandardParameterBytes = 4096;

/** The file's text, validated by the config schema; a usage error naming every bad field. */
async function readConfigFile(where: string, file: string): Promise<{ stored: string; shown: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    parseDeployConfig(file, text);
  } catch (error) {
    if (error instanceof ConfigInvalid)
      throw new UsageError(`${file} is not a valid config for ${where}: ${error.issues.join('; ')}`);
    throw error;
  }
  // Stored as the person wrote it (their keys, not the schema's defaults), without indentation so
  // the 4 KB go to the config; shown indented, so the diff has a line per field.
  const json: unknown = JSON.parse(text);
  return { stored: JSON.stringify(json), shown: JSON.stringify(json, null, 2) };
}

/**
 * `gantry config validate <app> <env> [file]`: a file is checked with no AWS call; without one, the
 * stored config (1 GetParameter).
 */
export async function configValidateCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
  file: string | undefined,
): Promise<ExitCode> {
  const { app, env } = appEnvArguments(appText, envText);
  if (file !== undefined) {
    await readConfigFile(`${app}/${env}`, file);
    report(context, output, { valid: true, source: file });
    return exitCodes.ok;
  }
  const name = appEnvParameters(context.parameterPrefix, app, env).config;
  const stored = await readParameter(context.clients.ssm, name);
  if (!stored) throw new RefusedError(`no config parameter ${name}`);
  try {
    parseDeployConfig(name, stored.value);
  } catch (error) {
    if (!(error instanceof ConfigInvalid)) throw error;
    report(context, output, { valid: false, source: name, issues: error.issues });
    return exitCodes.failed;
  }
  report(context, output, { valid: true, source: name, version: stored.version });
  return exitCodes.ok;
}

function report(
  context: CliContext,
  output: Output,
  result: { valid: boolean; source: string; version?: number; issues?: readonly string[] },
): void {
  if (context.json) {
    output.out(JSON.stringify(result, null, 2));
    return;
  }
  output.out(
    result.valid
      ? `${result.source}${result.version ? ` (version ${result.version})` : ''} is valid`
      : `${result.source} is invalid:\n${(result.issues ?? []).map((issue) => `  ${issue}`).join('\n')}`,
  );
}

/** `gantry config get <app> <env>`: the stored config as JSON. AWS calls: 1 GetParameter. */
export async function configGetCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
): Promise<ExitCode> {
  const { app, env } = appEnvArguments(appText, envText);
  const name = appEnvParameters(context.parameterPrefix, app, env).config;
  const stored = await readParameter(context.clients.ssm, name);
  if (!stored) throw new RefusedError(`no config parameter ${name}`);
  // Printed as stored, even when invalid: `config validate` says what is wrong with it.
  let json: unknown;
  try {
    json = JSON.parse(stored.value);
  } catch {
    json = undefined;
  }
  output.out(json === undefined ? stored.value : JSON.stringify(json, null, 2));
  return exitCodes.ok;
}

/**
 * `gantry config put <app> <env> <file> [--yes]`: validates the file, shows the diff against the
 * stored config and writes only once confirmed. AWS calls: 1 GetParameter, 1 PutParameter if written;
 * then, when a coordination table is named, the repository index: 1 GetItem and 1 Query, a PutItem
 * for each entry the app/environment joins or leaves.
 */
export async function configPutCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
  file: string,
  options: { yes?: boolean },
  confirm: (question: string) => Promise<boolean> = askOnTerminal,
): Promise<ExitCode> {
  const { app, env } = appEnvArguments(appText, envText);
  const next = await readConfigFile(`${app}/${env}`, file);
  if (Buffer.byteLength(next.stored) > maxStandardParameterBytes) {
    throw new UsageError(
      `${file} is ${Buffer.byteLength(next.stored)} bytes as stored; a Standard parameter holds ${maxStandardParameterBytes}`,
    );
  }
  const name = appEnvParameters(context.parameterPrefix, app, env).config;
  const stored = await readParameter(context.clients.ssm, name);
  const before = stored ? prettyOrRaw(stored.value) : '';
  const diff = lineDiff(before, next.shown);
  if (stored && diff.length === 0) {
    output.out(
      context.json ? JSON.stringify({ written: false, reason: 'no change', name }) : `${name}: no change`,
    );
    return exitCodes.ok;
  }
  output.err(
    stored ? `${name} (version ${stored.version}) would change:` : `${name} does not exist; it would be:`,
  );
  for (const line of diff) output.err(line);
  if (!options.yes) {
    if (!process.stdin.isTTY)
      throw new UsageError('not asking on a non-interactive input: give --yes to write');
    if (!(await confirm(`Write ${name}? [y/N] `))) {
      output.out(
        context.json ? JSON.stringify({ written: false, reason: 'declined', name }) : 'nothing written',
      );
      return exitCodes.failed;
    }
  }
  const version = await writeParameter(context.clients.ssm, name, next.stored, { overwrite: true });
  // The repository and alarm indexes follow at once. Parameter Store's change event does the same
  // through onConfigChanged, and the reconciler repairs the indexes should both be lost, so without
  // a table named here the write stands on its own.
  const table = tableIfNamed(context);
  if (table) {
    await indexConfigChange(table, configChangeOf({ app, env }, next.stored));
  }
  output.out(
    context.json ? JSON.stringify({ written: true, name, version }) : `${name}: written, version ${version}`,
  );
  return exitCodes.ok;
}

function tableIfNamed(context: CliContext): ReturnType<CliContext['table']> | undefined {
  try {
    return context.table();
  } catch (error) {
    if (error instanceof UsageError) return undefined;
    throw error;
  }
}

function prettyOrRaw(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

async function askOnTerminal(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}
