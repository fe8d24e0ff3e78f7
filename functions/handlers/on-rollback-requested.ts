import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { EventBridgeEvent } from 'aws-lambda';
import { parseRollbackTrigger, requestRollbacks } from '../src/rollback-request.ts';
import { cachedConfigSource } from './config-source.ts';
import { logger, parameterPrefix, requiredEnv, wrap } from './runtime.ts';

const deps = {
  sfn: new SFNClient({}),
  configSource: cachedConfigSource(new SSMClient({})),
  parameterPrefix,
  stateMachineArn: requiredEnv('DEPLOY_STATE_MACHINE_ARN'),
};

export const lambdaHandler = async (event: EventBridgeEvent<string, unknown>) => {
  const trigger = parseRollbackTrigger(event);
  const { rollbacks, invalidConfigs } = await requestRollbacks(deps, trigger);
  if (invalidConfigs.length > 0) logger.warn('skipped invalid configs', { invalid: invalidConfigs });
  logger.info('rollback requested', { trigger: trigger.kind, eventId: trigger.eventId, rollbacks });
  return { trigger: trigger.kind, rollbacks };
};

export const handler = wrap(lambdaHandler);
