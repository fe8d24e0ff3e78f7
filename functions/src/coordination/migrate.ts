import { paginateListExecutions, type SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import {
  type ParameterHistory,
  paginateGetParameterHistory,
  paginateGetParametersByPath,
  type SSMClient,
  UnlabelParameterVersionCommand,
} from '@aws-sdk/client-ssm';
import { awsCall } from '../errors.ts';
import { deleteParameter } from '../parameters.ts';
import { appendRelease, parseReleaseRecord, safeJson } from '../release.ts';
import type { CoordinationTable } from './table.ts';

/**
 * The one-time move from the Parameter Store layout (lock, next and rollout-token parameters, the
 * release history as parameter versions) to the coordination table. See docs/upgrading.md.
 */
export interface MigrationDependencies {
  ssm: SSMClient;
  sfn: SFNClient;
  table: CoordinationTable;
}

export interface MigrationOptions {
  parameterPrefix: string;
  stateMachineArn: string;
  /**
   * Executions started before this instant ran the old version: they are stopped with a cause
   * saying why. Without it, the migration refuses to run while any execution is RUNNING.
   */
  stopStartedBefore?: Date;
}

export type MigrationReport =
  | { status: 'refused'; why: string; running: string[] }
  | {
      status: 'migrated';
      stopped: string[];
      /** app/env → how many release records the history holds from the parameter's versions. */
      copied: Record<string, number>;
      /** `name:version` of each release version whose labels were removed. */
      unlabelled: string[];
      removed: string[];
    };

/** The error and cause an execution of the old version is stopped with. */
export const upgradeStop = {
  error: 'GantryUpgraded',
  cause:
    'Gantry moved its coordination from Parameter Store to DynamoDB while this deploy ran on the old version. ' +
    'Nothing is left half-recorded: start the deploy again (push again, or start an execution with the same input).',
};

/**
 * Stops what the old version still runs (or refuses), copies every readable record of each
 * `release` parameter's version history into the table, oldest first, then deletes the old
 * `lock`, `next` and `<prefix>-rollouts/*` parameters. Safe to run again: records are appended
 * only if absent and deleting a missing parameter is a no-op. The `release` parameter itself
 * stays: it is the live release people and the swarm agent read. Its old `live` label goes: once
 * the labelled version became the oldest of the 100 Parameter Store keeps, every further write
 * would fail with `ParameterMaxVersionLimitExceeded` (PutParameter API reference,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html).
 */
export async function migrateCoordination(
  deps: MigrationDependencies,
  options: MigrationOptions,
): Promise<MigrationReport> {
  const running = await runningExecutions(deps.sfn, options.stateMachineArn);
  const { stopStartedBefore } = options;
  if (running.length > 0 && stopStartedBefore === undefined) {
    return {
      status: 'refused',
      why: 'deploys are running: let them finish, or pass the instant the new version was deployed to stop the older ones',
      running: running.map((execution) => execution.executionArn),
    };
  }
  const stopped: string[] = [];
  for (const execution of running) {
    if (stopStartedBefore && execution.startDate < stopStartedBefore) {
      await awsCall('stopping an execution of the old version', () =>
        deps.sfn.send(new StopExecutionCommand({ executionArn: execution.executionArn, ...upgradeStop })),
      );
      stopped.push(execution.executionArn);
    }
  }

  const parameters = await parametersUnder(deps.ssm, options.parameterPrefix);
  const copied: Record<string, number> = {};
  const unlabelled: string[] = [];
  for (const name of parameters.filter((candidate) => candidate.endsWith('/release'))) {
    const [app, env] = name.slice(options.parameterPrefix.length + 1).split('/');
    if (!app || !env) continue;
    const versions = await parameterHistory(deps.ssm, name);
    const records = versions.flatMap((version) => {
      const record = parseReleaseRecord(safeJson(version.Value ?? ''));
      return record ? [record] : [];
    });
    for (const record of records) await appendRelease(deps.table, { app, env }, record);
    copied[`${app}/${env}`] = records.length;
    for (const { Version: version, Labels: labels } of versions) {
      if (version === undefined || !labels?.length) continue;
      await awsCall(`removing the labels of ${name}:${version}`, () =>
        deps.ssm.send(
          new UnlabelParameterVersionCommand({ Name: name, ParameterVersion: version, Labels: labels }),
        ),
      );
      unlabelled.push(`${name}:${version}`);
    }
  }

  const obsolete = [
    ...parameters.filter((name) => name.endsWith('/lock') || name.endsWith('/next')),
    ...(await parametersUnder(deps.ssm, `${options.parameterPrefix}-rollouts`)),
  ];
  const removed: string[] = [];
  for (const name of obsolete) if (await deleteParameter(deps.ssm, name)) removed.push(name);
  return { status: 'migrated', stopped, copied, unlabelled, removed };
}

async function runningExecutions(
  sfn: SFNClient,
  stateMachineArn: string,
): Promise<{ executionArn: string; startDate: Date }[]> {
  const found: { executionArn: string; startDate: Date }[] = [];
  // A one-time operator tool: the SDK's own retries are enough here, no step retries it.
  for await (const page of paginateListExecutions(
    { client: sfn },
    { stateMachineArn, statusFilter: 'RUNNING' },
  )) {
    for (const { executionArn, startDate } of page.executions ?? []) {
      if (executionArn && startDate) found.push({ executionArn, startDate });
    }
  }
  return found;
}

async function parametersUnder(ssm: SSMClient, path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: path, Recursive: true })) {
    names.push(...(page.Parameters ?? []).flatMap((parameter) => (parameter.Name ? [parameter.Name] : [])));
  }
  return names;
}

/** Every version Parameter Store still keeps (the last 100), oldest first. */
async function parameterHistory(ssm: SSMClient, name: string): Promise<ParameterHistory[]> {
  const versions: ParameterHistory[] = [];
  for await (const page of paginateGetParameterHistory({ client: ssm }, { Name: name })) {
    versions.push(...(page.Parameters ?? []));
  }
  return versions.sort((a, b) => (a.Version ?? 0) - (b.Version ?? 0));
}
