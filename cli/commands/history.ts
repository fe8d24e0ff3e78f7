import { releaseHistory } from '../../functions/src/release.ts';
import { displayName, executionNameOf, shortDigest } from '../../functions/src/status.ts';
import type { CliContext } from '../context.ts';
import { appEnvArguments } from '../names.ts';
import { type ExitCode, exitCodes, type Output, table, UsageError, when } from '../output.ts';

/** DynamoDB's Query answers at most 1 MB a page; a release record is a few KB, so 1000 fit. */
const maxLimit = 1000;

/**
 * `gantry history <app> <env>`: the release history from the coordination table, newest first.
 * AWS calls: 1 Query (one page of `--limit` records).
 */
export async function historyCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
  options: { limit: string },
): Promise<ExitCode> {
  const { app, env } = appEnvArguments(appText, envText);
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw new UsageError(`--limit "${options.limit}" must be a whole number from 1 to ${maxLimit}`);
  }
  const records = await releaseHistory(context.table(), app, env, { limit });
  if (context.json) {
    output.out(JSON.stringify(records, null, 2));
    return exitCodes.ok;
  }
  if (records.length === 0) {
    output.out(`${app}/${env} has no recorded release`);
    return exitCodes.ok;
  }
  output.out(
    table(
      ['AT', 'KIND', 'RELEASE', 'DIGEST', 'FROM', 'EXECUTION', 'CAUSE / REASON'],
      records.map((record) => [
        when(record.at),
        record.kind,
        displayName(record),
        shortDigest(record.digest),
        record.rolledBackFrom?.digest
          ? displayName({ ...record.rolledBackFrom, digest: record.rolledBackFrom.digest })
          : '-',
        executionNameOf(record.executionArn),
        record.cause ? `${record.cause.error}: ${record.cause.message}`.slice(0, 100) : (record.reason ?? ''),
      ]),
    ),
  );
  return exitCodes.ok;
}
