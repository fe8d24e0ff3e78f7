import { SSMClient } from '@aws-sdk/client-ssm';
import type { DeployState } from '../src/deploy-state.ts';
import { releaseLock } from '../src/lock.ts';
import { appEnvParameters } from '../src/parameters.ts';
import { logger, parameterPrefix, wrap } from './runtime.ts';

const ssm = new SSMClient({});

export const lambdaHandler = async ({ plan }: DeployState): Promise<{ released: boolean }> => {
  const outcome = await releaseLock(
    ssm,
    appEnvParameters(parameterPrefix, plan.app, plan.env),
    plan.executionArn,
  );
  logger.info('lock', { app: plan.app, env: plan.env, ...outcome });
  return outcome;
};

export const handler = wrap(lambdaHandler);
