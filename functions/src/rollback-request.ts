import type { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { nameSchema } from './config/schema.ts';
import { InputInvalid } from './errors.ts';
import { executionName, startDeploy } from './start-deploy.ts';
import { type ConfigSource, listAppEnvConfigs } from './tracking.ts';

const alarmEventSchema = z.object({
  id: z.string(),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  time: z.string(),
  detail: z.looseObject({
    alarmName: z.string(),
    state: z.looseObject({ value: z.string(), reason: z.string().optional() }),
  }),
});

const rollbackRequestedEventSchema = z.object({
  id: z.string(),
  'detail-type': z.literal('Rollback Requested'),
  time: z.string(),
  detail: z.strictObject({ app: nameSchema, env: nameSchema, reason: z.string().max(400).optional() }),
});

export type RollbackTrigger =
  | { kind: 'alarm'; eventId: string; time: string; alarmName: string; reason: string }
  | { kind: 'request'; eventId: string; time: string; app: string; env: string; reason: string };

export function parseRollbackTrigger(event: unknown): RollbackTrigger {
  const alarm = alarmEventSchema.safeParse(event);
  if (alarm.success) {
    const { detail } = alarm.data;
    if (detail.state.value !== 'ALARM')
      throw new InputInvalid(`alarm ${detail.alarmName} is ${detail.state.value}, not ALARM`);
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
  throw new InputInvalid('not a CloudWatch Alarm State Change or a gantry Rollback Requested event');
}

export interface RollbackRequestDependencies {
  sfn: SFNClient;
  configSource: ConfigSource;
  parameterPrefix: string;
  stateMachineArn: string;
}

/** Starts a rollback execution for every app/environment the trigger names. */
export async function requestRollbacks(
  deps: RollbackRequestDependencies,
  trigger: RollbackTrigger,
): Promise<{ rollbacks: { app: string; env: string; started: boolean }[]; invalidConfigs: string[] }> {
  let targets = trigger.kind === 'request' ? [{ app: trigger.app, env: trigger.env }] : [];
  let invalidConfigs: string[] = [];
  if (trigger.kind === 'alarm') {
    const { configs, invalid } = await listAppEnvConfigs(deps.configSource, deps.parameterPrefix);
    targets = configs
      .filter(({ config }) => config.rollbackAlarms.includes(trigger.alarmName))
      .map(({ app, env }) => ({ app, env }));
    // A broken config may be the one that lists this alarm: say so rather than stay silent.
    invalidConfigs = invalid.map(({ app, env, issues }) => `${app}/${env}: ${issues.join('; ')}`);
  }
  const rollbacks = await Promise.all(
    targets.map(async ({ app, env }) => {
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
      return { app, env, started: outcome.started };
    }),
  );
  return { rollbacks, invalidConfigs };
}
