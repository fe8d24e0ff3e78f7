import type { DeployConfig } from '../src/config/schema.ts';
import { failureCause, rolloutCompleted, withdrawRolloutWait } from '../src/coordination/waits.ts';
import { GantryError } from '../src/errors.ts';
import { fromPreSeamWait, type PreSeamRolloutWait } from '../src/targets/pre-seam.ts';
import { type TargetDeployment, targetFor } from '../src/targets/target.ts';
import { type RolloutWaitDependencies, rolloutWaitClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings): RolloutWaitDependencies =>
  rolloutWaitClients(settings);

/** The state's Parameters: the rollout (`$.deployment` or `$.rollback`) and the plan's config. */
export interface CheckRolloutEvent {
  deployment: TargetDeployment;
  config: DeployConfig;
}

/**
 * The rollout's time is up and no event resumed the execution: the target looks at itself.
 * The parked token is withdrawn first, so a late event cannot resume an execution that moved on.
 */
export const createCheckRolloutHandler = (deps = awsDefaults()) =>
  wrap(async (event: CheckRolloutEvent | PreSeamRolloutWait) => {
    // An execution started before the seam passes the ECS fields instead (targets/pre-seam.ts).
    const { deployment, config } = 'deployment' in event ? event : fromPreSeamWait(event);
    await withdrawRolloutWait(deps, deployment.deploymentId);
    const verdict = await targetFor(config, deps.targets).judgeRollout(deployment, { deadlinePassed: true });
    logger.info('rollout checked after timeout', {
      deploymentId: deployment.deploymentId,
      outcome: verdict.outcome,
    });
    if (verdict.outcome === 'failed') throw new GantryError(verdict.error, failureCause(verdict));
    return rolloutCompleted(deployment.deploymentId);
  });

export const handler = createCheckRolloutHandler();
