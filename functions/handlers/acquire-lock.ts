import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DeployState } from '../src/deploy-state.ts';
import { acquireLock, type LockOutcome } from '../src/lock.ts';
import { appEnvParameters } from '../src/parameters.ts';
import { logger, parameterPrefix, wrap } from './runtime.ts';

const deps = { ssm: new SSMClient({}), sfn: new SFNClient({}) };

export const lambdaHandler = async ({ plan }: DeployState): Promise<LockOutcome> => {
  const outcome = await acquireLock(deps, appEnvParameters(parameterPrefix, plan.app, plan.env), {
    executionArn: plan.executionArn,
    requestedAt: plan.requestedAt,
    image: plan.desired.image,
  });
  logger.info('lock', { app: plan.app, env: plan.env, ...outcome });
  return outcome;
};

export const handler = wrap(lambdaHandler);
