import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DeployState } from '../src/deploy-state.ts';
import { withLiveRelease } from '../src/live-release.ts';
import { acquireLock } from '../src/lock.ts';
import { appEnvParameters } from '../src/parameters.ts';
import { readRelease } from '../src/release.ts';
import { logger, parameterPrefix, wrap } from './runtime.ts';

const deps = { ssm: new SSMClient({}), sfn: new SFNClient({}) };

/** Returns the whole state: once the lock is held, the plan is refreshed against the live release. */
export const lambdaHandler = async (state: DeployState): Promise<DeployState> => {
  const { plan } = state;
  const parameters = appEnvParameters(parameterPrefix, plan.app, plan.env);
  const lock = await acquireLock(deps, parameters, {
    executionArn: plan.executionArn,
    requestedAt: plan.requestedAt,
    image: plan.desired.image,
  });
  logger.info('lock', { app: plan.app, env: plan.env, ...lock });
  if (lock.status !== 'acquired') return { ...state, lock };
  // Read again rather than reuse acquireLock's read: that one came before the lock was ours, and a
  // holder may have recorded a release and let go in between.
  return { ...state, lock, plan: withLiveRelease(plan, await readRelease(deps.ssm, parameters.release)) };
};

export const handler = wrap(lambdaHandler);
