import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CoordinationTable } from '../coordination/table.ts';
import { runningLockHolder } from '../lock.ts';
import { publishGantryEvent } from '../notify.ts';
import { appEnvParameters } from '../parameters.ts';
import { type ReleaseRecord, readRelease } from '../release.ts';
import { executionArnOf, executionName, startDeploy } from '../start-deploy.ts';
import type { LiveRevision } from '../targets/target.ts';
import type { AppEnvState } from './fleet.ts';

/** What the target runs now: its "read what is live" (functions/src/targets/target.ts). */
export type RunningRelease = LiveRevision;

/** The recorded side of a drift: the live release as Gantry wrote it. */
export interface RecordedRelease {
  revision: string;
  image: string;
  digest: string;
  tag?: string;
  at: string;
  executionArn: string;
}

export interface Drift {
  recorded: RecordedRelease;
  running: RunningRelease;
  /** What differs: `revision`, `image`. */
  differences: ('revision' | 'image')[];
}

/**
 * How what runs differs from the recorded live release, or undefined when it does not. Only a
 * record of what Gantry put live compares: after a failed rollback (`rollback-failed`) Gantry
 * itself does not know what should run.
 */
export function driftOf(record: ReleaseRecord, running: RunningRelease): Drift | undefined {
  if (record.kind === 'rollback-failed') return undefined;
  const differences: Drift['differences'] = [];
  if (running.revision !== record.revision) differences.push('revision');
  // Images are pinned by digest (`repo@sha256:…`): the digest is what compares, not the spelling.
  if (running.image !== undefined && digestOf(running.image) !== record.digest) differences.push('image');
  if (differences.length === 0) return undefined;
  return {
    recorded: {
      revision: record.revision,
      image: record.image,
      digest: record.digest,
      ...(record.tag !== undefined && { tag: record.tag }),
      at: record.at,
      executionArn: record.executionArn,
    },
    running,
    differences,
  };
}

function digestOf(image: string): string | undefined {
  return /@(sha256:[a-f0-9]{64})$/.exec(image)?.[1];
}

export interface DriftDependencies {
  ssm: SSMClient;
  sfn: SFNClient;
  table: CoordinationTable;
  events: EventBridgeClient;
  parameterPrefix: string;
  stateMachineArn: string;
  /** Where `Drift Detected` goes: the default bus, where users' own rules are. */
  eventBusName: string;
  /** What the app/environment's target runs now (the target's "read what is live"). */
  readRunning: (appEnv: AppEnvState, options?: { withImage?: boolean }) => Promise<RunningRelease>;
}

export type DriftOutcome =
  | { action: 'none'; why: string }
  | { action: 'reported'; differences: Drift['differences'] }
  | { action: 'restoring'; differences: Drift['differences']; executionArn: string; started: boolean };

/**
 * Compares what runs with the recorded live release. A difference is confirmed before it is
 * reported: no running deploy may hold the app/environment's lock (a rollout in progress runs a
 * revision its record does not name yet), and the live release is read again (one may have been
 * recorded since the run read the fleet). Then `Drift Detected`, with both sides; with
 * `onDrift: restore`, a deploy of the recorded release back, named after the drift so repeated
 * runs start it once.
 */
export async function checkDrift(
  deps: DriftDependencies,
  appEnv: AppEnvState,
  now: string,
): Promise<DriftOutcome> {
  const { app, env, release } = appEnv;
  if (!release) return { action: 'none', why: 'no release recorded' };
  if (release.kind === 'rollback-failed') {
    return { action: 'none', why: 'a rollback failed: what should run is unknown to Gantry too' };
  }
  // The revision alone decides (a revision is immutable); the image is read only to report it.
  if (!driftOf(release, await deps.readRunning(appEnv)))
    return { action: 'none', why: 'runs the recorded release' };
  const holder = await runningLockHolder(deps, { app, env });
  if (holder !== undefined) return { action: 'none', why: `a deploy is in flight (${holder})` };
  const fresh = await readRelease(deps.ssm, appEnvParameters(deps.parameterPrefix, app, env).release);
  const running = await deps.readRunning(appEnv, { withImage: true });
  const drift = fresh && driftOf(fresh, running);
  if (!drift) return { action: 'none', why: 'a release was recorded, or put back, since the run began' };

  const restore = appEnv.config.onDrift === 'restore';
  let restoring: { executionArn: string; started: boolean } | undefined;
  if (restore) {
    const name = executionName('restore', app, env, `${drift.recorded.executionArn}|${running.revision}`);
    const outcome = await startDeploy(deps.sfn, deps.stateMachineArn, name, {
      app,
      env,
      restore: true,
      reason: `drift: the target ran ${running.revision} instead of the recorded ${drift.recorded.revision}`,
      source: 'reconciler',
      requestedAt: now,
    });
    restoring = outcome.started
      ? { executionArn: outcome.executionArn, started: true }
      : { executionArn: executionArnOf(deps.stateMachineArn, name), started: false };
  }
  await publishGantryEvent(deps.events, deps.eventBusName, 'Drift Detected', {
    app,
    env,
    recorded: drift.recorded,
    running: drift.running,
    differences: drift.differences,
    onDrift: restore ? 'restore' : 'report',
    ...(restoring && { restore: restoring }),
  });
  return restoring
    ? { action: 'restoring', differences: drift.differences, ...restoring }
    : { action: 'reported', differences: drift.differences };
}
