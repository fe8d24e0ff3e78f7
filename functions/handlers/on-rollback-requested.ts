import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { EventBridgeEvent } from 'aws-lambda';
import { parseRollbackTrigger, requestRollbacks } from '../src/rollback-request.ts';
import { isIgnored } from '../src/tracking.ts';
import { cachedConfigSource } from './config-source.ts';
import { logger, parameterPrefix, requiredEnv, wrap } from './runtime.ts';

const ssm = new SSMClient({});
const deps = {
  sfn: new SFNClient({}),
  ssm,
  configSource: cachedConfigSource(ssm),
  parameterPrefix,
  stateMachineArn: requiredEnv('DEPLOY_STATE_MACHINE_ARN'),
};

export const lambdaHandler = async (event: EventBridgeEvent<string, unknown>) => {
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
};

export const handler = wrap(lambdaHandler);
