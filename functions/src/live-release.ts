import type { DeployPlan } from './deploy-plan.ts';
import { InputInvalid, NoPreviousRelease } from './errors.ts';
import { liveReleaseOf, type ReleaseRecord } from './release.ts';

/**
 * The plan against the release recorded now. ResolveConfig reads it first; AcquireLock reads it
 * again once the lock is held, because a request that waited may have seen an older release, and
 * its rollback target (or, for a requested rollback, its image) must be the one actually live.
 */
export function withLiveRelease(plan: DeployPlan, release: ReleaseRecord | undefined): DeployPlan {
  const live = liveReleaseOf(release);
  if (plan.mode === 'deploy') return { ...plan, live, livePrevious: release?.previous ?? null };
  if (plan.mode === 'restore') {
    if (!live) {
      throw new NoPreviousRelease(`${plan.app}/${plan.env} has no recorded live release to restore`);
    }
    return { ...plan, live, desired: live, livePrevious: release?.previous ?? null };
  }
  if (plan.rollbackTo) {
    if (live && live.digest === plan.rollbackTo.digest && live.revision === plan.rollbackTo.revision) {
      throw new InputInvalid(
        `${plan.app}/${plan.env} runs ${plan.rollbackTo.tag ?? plan.rollbackTo.digest} already: nothing to roll back to`,
      );
    }
    return { ...plan, live, desired: plan.rollbackTo, livePrevious: null };
  }
  if (!release?.previous) {
    throw new NoPreviousRelease(`${plan.app}/${plan.env} has no recorded previous release to roll back to`);
  }
  return { ...plan, live, desired: release.previous, livePrevious: null };
}
