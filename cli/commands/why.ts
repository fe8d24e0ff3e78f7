import { displayName, executionNameOf } from '../../functions/src/status.ts';
import { readForensics } from '../../functions/src/status-forensics.ts';
import type { CliContext } from '../context.ts';
import { appEnvArguments } from '../names.ts';
import { type ExitCode, exitCodes, type Output, table, when } from '../output.ts';

/**
 * `gantry why <app> <env> [execution]`: the forensics of the last failure (or of the execution
 * named). AWS calls: 1 Query (the history), 1 DescribeExecution.
 */
export async function whyCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
  execution: string | undefined,
): Promise<ExitCode> {
  const where = appEnvArguments(appText, envText);
  const forensics = await readForensics(
    { table: context.table(), sfn: context.clients.sfn, stateMachineArn: context.stateMachineArn() },
    where,
    execution,
  );
  if (context.json) {
    output.out(JSON.stringify(forensics ?? null, null, 2));
    return exitCodes.ok;
  }
  if (!forensics) {
    output.out(`${where.app}/${where.env}: no rollback in the last releases; nothing failed after a change`);
    return exitCodes.ok;
  }
  const { record, request } = forensics;
  const lines = [
    `${where.app}/${where.env}: execution ${executionNameOf(forensics.executionArn)} ${forensics.status}${forensics.stoppedAt ? ` at ${when(forensics.stoppedAt)}` : ''}`,
    `  asked by: ${request.source ?? 'unknown'}${request.image ? `, image ${request.image}` : ''}${request.rollback ? ', rollback' : ''}${request.reason ? ` (${request.reason})` : ''}`,
  ];
  if (record?.rolledBackFrom?.digest) {
    const back = record.kind === 'rollback-failed' ? 'failed to roll back' : 'rolled back';
    lines.push(
      `  ${displayName({ ...record.rolledBackFrom, digest: record.rolledBackFrom.digest })} ${back} to ${displayName(record)}`,
    );
  }
  if (forensics.error) lines.push(`  ${forensics.error}: ${forensics.message ?? ''}`);
  if (forensics.deploymentId) {
    lines.push(
      `  deployment ${forensics.deploymentId}${forensics.targetRolledBack ? ' (rolled back by the target itself; Gantry followed it)' : ''}`,
    );
  }
  output.out(lines.join('\n'));
  if (forensics.stoppedTasks.length > 0) {
    output.out('\nstopped tasks:');
    output.out(
      table(
        ['TASK', 'STOP CODE', 'REASON', 'EXIT CODES'],
        forensics.stoppedTasks.map((task) => [
          task.taskArn.slice(task.taskArn.lastIndexOf('/') + 1),
          task.stopCode ?? '-',
          task.stoppedReason ?? '-',
          task.containers
            .map(
              (container) =>
                `${container.name ?? '?'}=${container.exitCode ?? '-'}${container.reason ? ` (${container.reason})` : ''}`,
            )
            .join(' '),
        ]),
      ),
    );
  }
  if (forensics.event !== undefined) output.out(`\nevent:\n${JSON.stringify(forensics.event, null, 2)}`);
  if (Object.keys(forensics.otherDetails).length > 0) {
    output.out(`\nmore details:\n${JSON.stringify(forensics.otherDetails, null, 2)}`);
  }
  return exitCodes.ok;
}
