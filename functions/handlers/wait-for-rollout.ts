import { registerRolloutWait } from '../src/coordination/waits.ts';
import { evaluateRollout, type RolloutWait } from '../src/ecs/rollout.ts';
import { rolloutDependencies } from './rollout-clients.ts';
import { logger, wrap } from './runtime.ts';

/**
 * Invoked with `.waitForTaskToken`: its return value is ignored; the execution resumes when
 * someone calls SendTaskSuccess/Failure with the token (this handler, if the rollout already
 * ended, or onEcsEvent). The token is stored, never logged.
 */
export const lambdaHandler = async (wait: RolloutWait): Promise<{ outcome: string }> => {
  const verdict = await registerRolloutWait(rolloutDependencies, wait, (parked) =>
    evaluateRollout(rolloutDependencies.ecs, parked, { deadlinePassed: false }),
  );
  logger.info('waiting for rollout', { deploymentId: wait.deploymentId, outcome: verdict.outcome });
  return { outcome: verdict.outcome };
};

export const handler = wrap(lambdaHandler);
