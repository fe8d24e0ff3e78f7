import { failureCause, rolloutCompleted, withdrawRolloutWait } from '../src/coordination/waits.ts';
import { evaluateRollout, type RolloutWait } from '../src/ecs/rollout.ts';
import { GantryError } from '../src/errors.ts';
import { rolloutDependencies } from './rollout-clients.ts';
import { logger, wrap } from './runtime.ts';

/**
 * The rollout's time is up and no event resumed the execution: look at the service itself.
 * The parked token is withdrawn first, so a late event cannot resume an execution that moved on.
 */
export const lambdaHandler = async (wait: Omit<RolloutWait, 'taskToken'>) => {
  await withdrawRolloutWait(rolloutDependencies, wait.deploymentId);
  const verdict = await evaluateRollout(rolloutDependencies.ecs, wait, { deadlinePassed: true });
  logger.info('rollout checked after timeout', { deploymentId: wait.deploymentId, outcome: verdict.outcome });
  if (verdict.outcome === 'failed') throw new GantryError(verdict.error, failureCause(verdict));
  return rolloutCompleted(wait.deploymentId);
};

export const handler = wrap(lambdaHandler);
