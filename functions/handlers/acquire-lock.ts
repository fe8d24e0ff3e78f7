import type { DeployState } from '../src/deploy-state.ts';
import { withLiveRelease } from '../src/live-release.ts';
import { acquireLock, type LockDependencies, waiterFallbackSeconds } from '../src/lock.ts';
import { latestRelease } from '../src/release.ts';
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
    const lock = await acquireLock(deps, plan, {
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
    // holder may have recorded a release and let go in between. An empty history (an install not yet
    // migrated, docs/upgrading.md) keeps the live release ResolveConfig read from Parameter Store.
    const latest = await latestRelease(deps.table, plan.app, plan.env);
    return { ...state, lock, plan: latest ? withLiveRelease(plan, latest) : plan };
  });

export const handler = createAcquireLockHandler();
