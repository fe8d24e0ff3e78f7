import type { DeployState } from '../src/deploy-state.ts';
import { withLiveRelease } from '../src/live-release.ts';
import { acquireLock, waiterFallbackSeconds } from '../src/lock.ts';
import { latestRelease } from '../src/release.ts';
import { coordination } from './coordination-clients.ts';
import { logger, wrap } from './runtime.ts';

/** Returns the whole state: once the lock is held, the plan is refreshed against the live release. */
export const lambdaHandler = async (state: DeployState): Promise<DeployState> => {
  const { plan } = state;
  const lock = await acquireLock(coordination, plan, {
    executionArn: plan.executionArn,
    requestedAt: plan.requestedAt,
    image: plan.desired.image,
  });
  logger.info('lock', { app: plan.app, env: plan.env, ...lock });
  if (lock.status === 'waiting') {
    return { ...state, lock: { ...lock, retryAfterSeconds: waiterFallbackSeconds(plan.config.health) } };
  }
  if (lock.status !== 'acquired') return { ...state, lock };
  // Read again rather than reuse acquireLock's read: that one came before the lock was ours, and a
  // holder may have recorded a release and let go in between.
  return {
    ...state,
    lock,
    plan: withLiveRelease(plan, await latestRelease(coordination.table, plan.app, plan.env)),
  };
};

export const handler = wrap(lambdaHandler);
