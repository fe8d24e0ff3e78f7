import type { EventBridgeEvent } from 'aws-lambda';
import {
  parseRollbackTrigger,
  type RollbackRequestDependencies,
  requestRollbacks,
} from '../src/rollback-request.ts';
import { isIgnored } from '../src/tracking.ts';
import { coordinationClients } from './clients.ts';
import { entryClients } from './config-source.ts';
import { environmentSettings, lazily, logger, wrap } from './runtime.ts';

/** The entry clients, and the coordination table where a deploy in flight is found. */
export const awsDefaults = (settings = environmentSettings): RollbackRequestDependencies => {
  const entry = entryClients(settings);
  return lazily<RollbackRequestDependencies>({
    ssm: () => entry.ssm,
    sfn: () => entry.sfn,
    configSource: () => entry.configSource,
    parameterPrefix: () => entry.parameterPrefix,
    stateMachineArn: () => entry.stateMachineArn,
    coordination: () => coordinationClients(settings),
  });
};

export const createOnRollbackRequestedHandler = (deps = awsDefaults()) =>
  wrap(async (event: EventBridgeEvent<string, unknown>) => {
    const trigger = parseRollbackTrigger(event);
    if (isIgnored(trigger)) {
      logger.info('rollback ignored', { why: trigger.ignored });
      return `ignored: ${trigger.ignored}`;
    }
    const { rollbacks, invalidConfigs } = await requestRollbacks(deps, trigger);
    if (invalidConfigs.length > 0) logger.warn('skipped invalid configs', { invalid: invalidConfigs });
    if (rollbacks.length === 0) {
      const why =
        trigger.kind === 'alarm'
          ? `no app/environment lists alarm ${trigger.alarmName}`
          : 'nothing to roll back';
      logger.info('rollback ignored', { eventId: trigger.eventId, why });
      return `ignored: ${why}`;
    }
    // Each rollback says whether it started and, if not, why: none is claimed that did not start.
    logger.info('rollback request routed', { trigger: trigger.kind, eventId: trigger.eventId, rollbacks });
    return { trigger: trigger.kind, rollbacks };
  });

export const handler = createOnRollbackRequestedHandler();
