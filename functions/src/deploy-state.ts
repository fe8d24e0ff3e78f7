import type { DeployPlan } from './deploy-plan.ts';
import { DeployFailed } from './errors.ts';
import { isDigest } from './image-ref.ts';
import type { LockOutcome } from './lock.ts';
import type { DeployedImage } from './release.ts';
import type { TargetDeployment } from './targets/target.ts';

/** What Step Functions puts in a Catch's ResultPath. */
export interface CaughtError {
  Error: string;
  Cause?: string;
}

/**
 * The execution's state document: each step of `state-machines/deploy.asl.json` adds one key
 * (its ResultPath), so any step can see what came before and the final output tells the story.
 */
export interface DeployState {
  plan: DeployPlan;
  lock?: LockOutcome;
  /** What Deploy started: target-neutral (`{ target, deploymentId, revision, … }`). */
  deployment?: TargetDeployment;
  rollout?: { rolloutState: string; deploymentId: string };
  /** Why the deploy is being rolled back. */
  failure?: CaughtError;
  rollback?: TargetDeployment;
  /** A swarm rollback whose own update paused: Rollback orders last-good again, forced, once. */
  rollbackPaused?: CaughtError;
  /** Why the rollback itself failed. */
  rollbackFailure?: CaughtError;
}

/** Parses a failure's Cause when it is the JSON a Gantry step wrote, else keeps the text. */
export function causeDetails(caught: CaughtError | undefined): {
  message: string;
  details?: Record<string, unknown>;
} {
  const text = caught?.Cause ?? '';
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      let details = parsed as Record<string, unknown>;
      // A Lambda error's Cause is `{errorType, errorMessage}`; Gantry's own errors put JSON in the message.
      if (typeof details.errorMessage === 'string' && details.errorMessage.startsWith('{')) {
        details = { ...details, ...causeDetails({ Error: '', Cause: details.errorMessage }).details };
      }
      const message =
        typeof details.message === 'string'
          ? details.message
          : typeof details.errorMessage === 'string'
            ? details.errorMessage
            : text;
      return { message, details };
    }
  } catch {
    // Not JSON: a plain message.
  }
  return { message: text || (caught?.Error ?? 'unknown error') };
}

/** Where an automatic rollback goes: the recorded live release, else what the service ran before. */
export function rollbackTarget(state: DeployState): DeployedImage {
  if (state.plan.live) return state.plan.live;
  const before = state.deployment;
  if (!before)
    throw new DeployFailed('nothing to roll back to: no recorded release and the deploy never started');
  const image = before.previousImage ?? 'unknown';
  const digest = image.split('@')[1] ?? '';
  return {
    image,
    digest: isDigest(digest) ? digest : 'unknown',
    revision: before.previousRevision,
  };
}
