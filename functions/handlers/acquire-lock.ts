import type { DeployState } from '../src/deploy-state.ts';
import { withLiveRelease } from '../src/live-release.ts';
import { acquireLock, type LockDependencies, waiterFallbackSeconds } from '../src/lock.ts';
import { withNeutralState } from '../src/targets/pre-seam.ts';
import { coordinationClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings): LockDependencies =>
  coordinationClients(settings);

/** Returns the whole state: once the lock is held, the plan is refreshed against the live release. */
export const createAcquireLockHandler = (deps = awsDefaults()) =>
  wrap(async (given: DeployState): Promise<DeployState> => {
    const state = withNeutralState(given);
    const { plan } = state;
    const outcome = await acquireLock(deps, plan, {
      executionArn: plan.executionArn,
      requestedAt: plan.requestedAt,
      image: plan.desired.image,
    });
    logger.info('lock', {
      app: plan.app,
      env: plan.env,
      ...(outcome.status === 'acquired' ? { status: outcome.status } : outcome),
    });
    if (outcome.status === 'waiting') {
      return {
        ...state,
        lock: { ...outcome, retryAfterSeconds: waiterFallbackSeconds(plan.config.health) },
      };
    }
    if (outcome.status !== 'acquired') return { ...state, lock: outcome };
    // The newest record as read once the lock was ours: a holder may have recorded a release and let
    // go just before. An empty history (an install not yet migrated, docs/upgrading.md) keeps the
    // live release ResolveConfig read from Parameter Store.
    const { latest, ...lock } = outcome;
    return { ...state, lock, plan: latest ? withLiveRelease(plan, latest) : plan };
  });

export const handler = createAcquireLockHandler();
