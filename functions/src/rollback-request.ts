import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { nameSchema } from './config/schema.ts';
import { deliverRollbackRequest } from './coordination/in-flight.ts';
import type { WaitDependencies } from './coordination/waits.ts';
import { appEnvParameters } from './parameters.ts';
import { alarmIndex } from './repository-index/indexes.ts';
import { appEnvsNaming, readAppEnvs, type TrackingAppEnv } from './repository-index/tracking.ts';
import { executionName, startDeploy } from './start-deploy.ts';
import { type ConfigSource, type Ignored, ignore, type TrackedConfigs } from './tracking.ts';
import * as z from './zod.ts';

/**
 * CloudWatch's alarm state change event ("Alarm events and EventBridge",
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html).
 * A composite alarm with an actions suppressor reports `state.actionsSuppressedBy` (`WaitPeriod`,
 * `ExtensionPeriod` or `Alarm`) and `state.actionsSuppressedReason` while its actions are
 * suppressed (CompositeAlarm in the CloudWatch API reference); serverless.yml's rule already
 * filters those out, this is the same rule in code.
 */
const alarmEventSchema = z.object({
  id: z.string(),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  time: z.string(),
  detail: z.looseObject({
    alarmName: z.string(),
    state: z.looseObject({
      value: z.string(),
      reason: z.optional(z.string()),
      actionsSuppressedBy: z.optional(z.string()),
      actionsSuppressedReason: z.optional(z.string()),
    }),
  }),
});

const rollbackRequestedEventSchema = z.object({
  id: z.string(),
  'detail-type': z.literal('Rollback Requested'),
  time: z.string(),
  detail: z.strictObject({
    app: nameSchema,
    env: nameSchema,
    reason: z.optional(z.string().check(z.maxLength(400))),
  }),
});

export type RollbackTrigger =
  | { kind: 'alarm'; eventId: string; time: string; alarmName: string; reason: string }
  | { kind: 'request'; eventId: string; time: string; app: string; env: string; reason: string };

/** The rollback an event asks for, or why this event asks for none. */
export function parseRollbackTrigger(event: unknown): RollbackTrigger | Ignored {
  const alarm = alarmEventSchema.safeParse(event);
  if (alarm.success) {
    const { detail } = alarm.data;
    if (detail.state.value !== 'ALARM')
      return ignore(`alarm ${detail.alarmName} is ${detail.state.value}, not ALARM`);
    if (detail.state.actionsSuppressedBy !== undefined) {
      // A maintenance window (or any suppressor) holds the alarm's actions: Gantry is one of them.
      return ignore(
        `alarm ${detail.alarmName}'s actions are suppressed (${detail.state.actionsSuppressedBy}: ${detail.state.actionsSuppressedReason ?? 'no reason given'})`.slice(
          0,
          500,
        ),
      );
    }
    return {
      kind: 'alarm',
      eventId: alarm.data.id,
      time: alarm.data.time,
      alarmName: detail.alarmName,
      reason:
        `CloudWatch alarm ${detail.alarmName} went to ALARM: ${detail.state.reason ?? 'no reason given'}`.slice(
          0,
          500,
        ),
    };
  }
  const request = rollbackRequestedEventSchema.safeParse(event);
  if (request.success) {
    const { detail } = request.data;
    return {
      kind: 'request',
      eventId: request.data.id,
      time: request.data.time,
      app: detail.app,
      env: detail.env,
      reason: detail.reason ?? 'rollback requested',
    };
  }
  const detailType = (event as { 'detail-type'?: unknown } | null)?.['detail-type'];
  return ignore(
    detailType === 'Rollback Requested'
      ? `Rollback Requested needs a detail of app, env and an optional reason (at most 400 characters): ${z.prettifyError(request.error).slice(0, 300)}`
      : 'not a CloudWatch Alarm State Change or a gantry Rollback Requested event',
  );
}

export interface RollbackRequestDependencies {
  sfn: SFNClient;
  ssm: SSMClient;
  /** Every config: read only for an alarm the alarm index has never seen. */
  configSource: ConfigSource;
  parameterPrefix: string;
  stateMachineArn: string;
  /**
   * The coordination table: where a deploy in flight is found and its parked token resumed, and
   * where the alarm index lives.
   */
  coordination: WaitDependencies;
}

export type RollbackDecision =
  | { app: string; env: string; started: true }
  /** A deploy of this app/environment was in flight: it was told to roll back at once. */
  | { app: string; env: string; started: false; delivered: true }
  | { app: string; env: string; started: false; why: string };

/** An app/environment to roll back; `cannotStart` says why no rollback execution could run. */
type Target = Pick<TrackingAppEnv, 'app' | 'env' | 'release'> & { cannotStart?: string };

/**
 * The app/environments a trigger names, with their live release, read at a cost that does not grow
 * with the fleet. An alarm: one read of the alarm index, then GetParameters for the configs and
 * live releases of the app/environments it names (an alarm the index has never seen costs one scan
 * of the configs, once). A request: its app/environment's config and live release, read by name in
 * one GetParameters call. Without a valid config a rollback execution would fail at ResolveConfig,
 * so none is started; a deploy in flight (which read its config when it began) is still told.
 */
async function targetsOf(
  deps: RollbackRequestDependencies,
  trigger: RollbackTrigger,
): Promise<{ targets: Target[]; invalid: TrackedConfigs['invalid'] }> {
  if (trigger.kind === 'alarm') {
    const { naming, invalid } = await appEnvsNaming(
      { ...deps, table: deps.coordination.table },
      alarmIndex,
      trigger.alarmName,
    );
    return { targets: naming, invalid };
  }
  const { app, env } = trigger;
  const { appEnvs, invalid } = await readAppEnvs(deps.ssm, deps.parameterPrefix, [{ app, env }]);
  if (appEnvs.length > 0) return { targets: appEnvs, invalid };
  const cannotStart =
    invalid.length > 0
      ? `ignored: the config of ${app}/${env} is invalid`
      : `ignored: ${appEnvParameters(deps.parameterPrefix, app, env).config} does not exist`;
  return { targets: [{ app, env, release: undefined, cannotStart }], invalid };
}

/**
 * Delivers the rollback to the deploy in flight for each app/environment the trigger names (it
 * rolls back at once instead of queueing behind its lock), or else starts a rollback execution,
 * except where the live
 * release was requested after the trigger: that execution would only stand down (AcquireLock
 * supersedes a request older than the recorded release), so it is not started and says why.
 */
export async function requestRollbacks(
  deps: RollbackRequestDependencies,
  trigger: RollbackTrigger,
): Promise<{ rollbacks: RollbackDecision[]; invalidConfigs: string[] }> {
  const { targets, invalid } = await targetsOf(deps, trigger);
  // A broken config may be the one that lists this alarm: say so rather than stay silent.
  const invalidConfigs = invalid.map(({ app, env, issues }) => `${app}/${env}: ${issues.join('; ')}`);
  const rollbacks = await Promise.all(
    targets.map(async ({ app, env, release: live, cannotStart }): Promise<RollbackDecision> => {
      // The deploy this request is about must not finish first: it is told to roll back now.
      if (await deliverRollbackRequest(deps.coordination, { app, env }, trigger.reason)) {
        return { app, env, started: false, delivered: true };
      }
      if (cannotStart !== undefined) return { app, env, started: false, why: cannotStart };
      if (live?.requestedAt !== undefined && Date.parse(live.requestedAt) > Date.parse(trigger.time)) {
        return { app, env, started: false, why: 'ignored: older than the live release' };
      }
      const outcome = await startDeploy(
        deps.sfn,
        deps.stateMachineArn,
        executionName('rollback', app, env, trigger.eventId),
        {
          app,
          env,
          rollback: true,
          reason: trigger.reason,
          source: trigger.kind === 'alarm' ? 'alarm' : 'rollback-requested',
          requestedAt: trigger.time,
        },
      );
      return outcome.started
        ? { app, env, started: true }
        : { app, env, started: false, why: 'a rollback for this event was already started' };
    }),
  );
  return { rollbacks, invalidConfigs };
}
