import type { DeployConfig } from '../src/config/schema.ts';
import {
  failureCause,
  rolloutAtGate,
  rolloutCompleted,
  withdrawRolloutWait,
} from '../src/coordination/waits.ts';
import { rearm } from '../src/ecs/service-deployment.ts';
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
    if (verdict.outcome === 'gate') return rolloutAtGate(verdict);
    if (verdict.outcome === 'pending' && deployment.watch) {
      // A staged rollout still within its re-checks: wait again until the next step's expected end.
      const watch = rearm(
        { ...deployment.watch, rechecksLeft: deployment.watch.rechecksLeft - 1 },
        verdict.lifecycleStage,
        config.health.timeoutSeconds,
      );
      return { rolloutState: 'PENDING' as const, deployment: { ...deployment, watch } };
    }
    if (verdict.outcome === 'pending') {
      // A rolling target judged with its deadline passed never answers pending.
      throw new GantryError(
        'RolloutTimedOut',
        failureCause({
          outcome: 'failed',
          error: 'RolloutTimedOut',
          message: 'the rollout did not complete in time',
          deploymentId: deployment.deploymentId,
        }),
      );
    }
    return rolloutCompleted(deployment.deploymentId);
  });

export const handler = createCheckRolloutHandler();
