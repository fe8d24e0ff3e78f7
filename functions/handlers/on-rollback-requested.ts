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
  const started = await requestRollbacks(deps, trigger);
  logger.info('rollback requested', { trigger: trigger.kind, eventId: trigger.eventId, started });
  return { trigger: trigger.kind, started };
};

export const handler = wrap(lambdaHandler);
