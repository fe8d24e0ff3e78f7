import type { EcsTarget, HealthConfig } from '../config/schema.ts';
import type { DeployPlan } from '../deploy-plan.ts';
import { causeDetails, type DeployState, rollbackTarget } from '../deploy-state.ts';
import {
  deployImageToEcs,
  deployTaskDefinitionToEcs,
  describeService,
  type EcsDeployment,
  type EcsRollbackPatience,
  followEcsRollback,
  requireManagedService,
} from '../ecs/deploy.ts';
import { previewEcsDeploy, requireRunnableTaskDefinition } from '../ecs/preview.ts';
import { evaluateRollout } from '../ecs/rollout.ts';
import type { DeployTarget, TargetClients, TargetDeployment } from './target.ts';

/**
 * An ECS service on the rolling update controller. Its revision is a task definition ARN; its
 * rollout is an ECS deployment, judged from the service and its stopped tasks.
 */
export function ecsTarget(
  target: EcsTarget,
  health: HealthConfig,
  clients: Pick<TargetClients, 'ecs'>,
  patience?: EcsRollbackPatience,
): DeployTarget {
  const where = (deployment: TargetDeployment) => ({
    deploymentId: deployment.deploymentId,
    cluster: target.cluster,
    service: target.service,
    maxFailedTasks: health.maxFailedTasks,
  });
  return {
    type: 'ecs',
    requireDeployable: () => requireManagedService(clients.ecs, target),
    deploy: async (plan) => neutral(await deployToEcs(clients, target, plan)),
    rollBack: async (state) => neutral(await rollBackEcs(clients, target, state, patience)),
    // What onEcsEvent reads back (ecs/rollout.ts rolloutWaitSchema), beside the deployment id.
    parkedDetails: (deployment) => {
      const { deploymentId: _, ...details } = where(deployment);
      return details;
    },
    judgeRollout: (deployment, options) => evaluateRollout(clients.ecs, where(deployment), options),
    preview: (plan) => previewEcsDeploy(clients.ecs, target, plan),
    requireRunnable: (release) => requireRunnableTaskDefinition(clients.ecs, release.revision, release.image),
    readLive: async () => {
      const service = await describeService(clients.ecs, target);
      const primary = service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
      return {
        revision: service.taskDefinition ?? 'unknown',
        ...(primary?.id && primary.rolloutState === 'IN_PROGRESS' && { deploymentInProgress: primary.id }),
      };
    },
  };
}

function neutral(deployment: EcsDeployment): TargetDeployment {
  return {
    target: 'ecs',
    deploymentId: deployment.deploymentId,
    revision: deployment.taskDefinitionArn,
    previousRevision: deployment.previousTaskDefinitionArn,
    ...(deployment.previousImage !== undefined && { previousImage: deployment.previousImage }),
  };
}

/** A new pinned revision, or an existing one for a requested rollback. */
function deployToEcs(clients: Pick<TargetClients, 'ecs'>, target: EcsTarget, plan: DeployPlan) {
  return plan.desired.revision
    ? deployTaskDefinitionToEcs(clients.ecs, target, plan.desired.revision)
    : deployImageToEcs(clients.ecs, target, plan.desired.image, plan.executionArn);
}

/**
 * When ECS's circuit breaker rolls the deployment back itself, Gantry follows ECS's own rollback
 * deployment instead of starting a second one.
 */
async function rollBackEcs(
  clients: Pick<TargetClients, 'ecs'>,
  target: EcsTarget,
  state: DeployState,
  patience?: EcsRollbackPatience,
): Promise<EcsDeployment> {
  const goal = rollbackTarget(state);
  const details = causeDetails(state.failure).details;
  const failedDeploymentId = state.deployment?.deploymentId ?? details?.deploymentId;
  if (details?.ecsRolledBack === true && typeof failedDeploymentId === 'string') {
    const ecsRollback = await followEcsRollback(
      clients.ecs,
      target,
      failedDeploymentId,
      goal.revision,
      patience,
    );
    if (ecsRollback) return ecsRollback;
  }
  return deployTaskDefinitionToEcs(clients.ecs, target, goal.revision);
}
