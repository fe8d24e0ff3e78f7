import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CoordinationTable, Item } from './coordination/table.ts';
import type { DeployPlan } from './deploy-plan.ts';
import { type CaughtError, causeDetails, type DeployState, rollbackTarget } from './deploy-state.ts';
import type { StoppedTask } from './ecs/rollout.ts';
import { type GantryEvent, type GantryEventType, publishGantryEvents } from './notify.ts';
import { appEnvParameters } from './parameters.ts';
import { type ReleaseRecord, readPartitionHead, recordRelease } from './release.ts';
import { statusAfterRecord, statusChangedDetailType } from './status.ts';

export type OutcomeKind = 'release' | 'rollback' | 'rollback-failed' | 'superseded';

export interface OutcomeDependencies {
  ssm: SSMClient;
  table: CoordinationTable;
  events: EventBridgeClient;
  parameterPrefix: string;
  eventBusName: string;
  now: () => Date;
}

/**
 * Records the release (for every kind but superseded): appended to the history in the coordination
 * table and written as the live release to Parameter Store. Then announces the outcome.
 */
export async function recordOutcome(
  deps: OutcomeDependencies,
  kind: OutcomeKind,
  state: DeployState,
): Promise<{ kind: OutcomeKind; version?: number; event: GantryEventType }> {
  const { plan } = state;
  const event = eventTypeOf(kind, plan);
  const recorded =
    kind === 'superseded'
      ? undefined
      : await writeRecord(deps, plan, releaseRecordFor(kind, state, deps.now()));
  const outcome: GantryEvent = {
    detailType: event,
    detail: {
      app: plan.app,
      env: plan.env,
      executionArn: plan.executionArn,
      source: plan.source,
      requested: plan.desired,
      ...(recorded && { record: recorded.record }),
      // Everything gathered when it failed: stopped tasks, exit codes, the ECS event.
      ...(state.failure && { failure: causeDetails(state.failure) }),
      ...(state.rollbackFailure && { rollbackFailure: causeDetails(state.rollbackFailure) }),
      // Only RecordSuperseded runs with a superseded lock: the state machine goes nowhere else from it.
      ...(state.lock?.status === 'superseded' && { supersededBy: state.lock.by }),
    },
    resources: [plan.executionArn],
  };
  // Every change of what is live is also announced as `gantry status` shows it (status.ts), so a
  // Slack or SNS rule needs no lookup. At least once, as the outcome event: a retry puts it again.
  // Both go in one PutEvents call, the outcome first.
  const statusChanged: GantryEvent[] = recorded
    ? [
        {
          detailType: statusChangedDetailType,
          detail: { ...statusAfterRecord(plan, recorded.record, recorded.waiter) },
          resources: [plan.executionArn],
        },
      ]
    : [];
  await publishGantryEvents(deps.events, deps.eventBusName, [outcome, ...statusChanged]);
  return { kind, ...(recorded && { version: recorded.version }), event };
}

/**
 * Appends the record to the history and writes it live. One read serves both the append's retry
 * check (the newest record) and the status event (the waiter).
 */
async function writeRecord(
  deps: OutcomeDependencies,
  plan: DeployPlan,
  record: ReleaseRecord,
): Promise<{ record: ReleaseRecord; version: number; waiter: Item | undefined }> {
  const head = await readPartitionHead(deps.table, plan.app, plan.env);
  const version = await recordRelease(
    deps,
    {
      app: plan.app,
      env: plan.env,
      parameterName: appEnvParameters(deps.parameterPrefix, plan.app, plan.env).release,
    },
    record,
    head,
  );
  return { record, version, waiter: head.waiter };
}

function eventTypeOf(kind: OutcomeKind, plan: DeployPlan): GantryEventType {
  switch (kind) {
    case 'release':
      return plan.mode === 'rollback'
        ? 'Rollback Succeeded'
        : plan.mode === 'restore'
          ? 'Drift Restored'
          : 'Release Succeeded';
    case 'rollback':
      return 'Release Rolled Back';
    case 'rollback-failed':
      return 'Rollback Failed';
    case 'superseded':
      return 'Request Superseded';
  }
}

function releaseRecordFor(
  kind: Exclude<OutcomeKind, 'superseded'>,
  state: DeployState,
  at: Date,
): ReleaseRecord {
  const { plan } = state;
  const common = {
    at: at.toISOString(),
    executionArn: plan.executionArn,
    requestedAt: plan.requestedAt,
    ...(plan.reason && { reason: plan.reason }),
  };
  if (kind === 'release') {
    const revision = state.deployment?.revision ?? plan.desired.revision ?? 'unknown';
    const deployed = { ...plan.desired, revision };
    // The same release, put back: it keeps the previous one it had, for a later rollback.
    if (plan.mode === 'restore')
      return { kind: 'release', ...deployed, ...common, previous: plan.livePrevious };
    // A requested rollback forgets the release it left, so a second alarm cannot flip back to it.
    return plan.mode === 'rollback'
      ? {
          kind: 'rollback',
          ...deployed,
          ...common,
          previous: null,
          ...(plan.live && { rolledBackFrom: plan.live }),
        }
      : { kind: 'release', ...deployed, ...common, previous: plan.live };
  }
  const target = rollbackTarget(state);
  const failed = kind === 'rollback' ? state.failure : state.rollbackFailure;
  return {
    kind,
    ...target,
    ...common,
    previous: plan.livePrevious,
    cause: causeOf(failed, kind === 'rollback-failed' ? state.failure : undefined),
    rolledBackFrom: {
      ...plan.desired,
      ...(state.deployment && { revision: state.deployment.revision }),
    },
  };
}

/**
 * The cause as kept in the release record: a summary, because the live release is a Standard
 * parameter (4 KB).
 * The full forensics travel in the gantry event, which holds 256 KB.
 */
function causeOf(
  failure: CaughtError | undefined,
  original: CaughtError | undefined,
): NonNullable<ReleaseRecord['cause']> {
  const { message, details } = causeDetails(failure);
  const stoppedTasks = Array.isArray(details?.stoppedTasks) ? (details.stoppedTasks as StoppedTask[]) : [];
  const summary = {
    ...(typeof details?.deploymentId === 'string' && { deploymentId: details.deploymentId }),
    ...(details?.ecsRolledBack === true && { ecsRolledBack: true }),
    ...(stoppedTasks.length > 0 && {
      stoppedTasks: stoppedTasks.length,
      ...exitCodesOf(stoppedTasks),
      stopReasons: [
        ...new Set(stoppedTasks.map((task) => `${task.stopCode ?? '?'}: ${task.stoppedReason ?? ''}`)),
      ]
        .slice(0, 3)
        .map((reason) => reason.slice(0, 200)),
    }),
    ...(original && {
      rolloutFailure: { error: original.Error, message: causeDetails(original).message.slice(0, 500) },
    }),
  };
  return {
    error: failure?.Error ?? 'unknown',
    message: message.slice(0, 1000),
    ...(Object.keys(summary).length > 0 && { details: summary }),
  };
}

/** The containers' distinct exit codes, when the stopped tasks name any: "exited with code 1" for people. */
function exitCodesOf(stoppedTasks: StoppedTask[]): { exitCodes?: number[] } {
  const codes = new Set(
    stoppedTasks.flatMap((task) => (task.containers ?? []).flatMap((container) => container.exitCode ?? [])),
  );
  return codes.size > 0 ? { exitCodes: [...codes].sort((a, b) => a - b).slice(0, 5) } : {};
}
