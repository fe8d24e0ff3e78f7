import { type RolloutWait, registerRolloutWait } from '../src/ecs/rollout.ts';
import { rolloutDependencies } from './rollout-clients.ts';
import { logger, wrap } from './runtime.ts';

/**
 * Invoked with `.waitForTaskToken`: its return value is ignored; the execution resumes when
 * someone calls SendTaskSuccess/Failure with the token (this handler, if the rollout already
 * ended, or onEcsEvent). The token is stored, never logged.
 */
export const lambdaHandler = async (wait: RolloutWait): Promise<{ outcome: string }> => {
  const verdict = await registerRolloutWait(rolloutDependencies, wait);
  logger.info('waiting for rollout', { deploymentId: wait.deploymentId, outcome: verdict.outcome });
  return { outcome: verdict.outcome };
};

export const handler = wrap(lambdaHandler);
