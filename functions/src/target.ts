import type { ECSClient } from '@aws-sdk/client-ecs';
import type { EcsTarget } from './config/schema.ts';
import type { DeployPlan } from './deploy-plan.ts';
import { causeDetails, type DeployState, rollbackTarget } from './deploy-state.ts';
import {
  deployImageToEcs,
  deployTaskDefinitionToEcs,
  type EcsDeployment,
  type EcsRollbackPatience,
  followEcsRollback,
  requireManagedService,
} from './ecs/deploy.ts';

/** Refuses, before anything changes, a target Gantry may not deploy (an ECS service without its tag). */
export function requireDeployableTarget(ecs: ECSClient, target: EcsTarget): Promise<void> {
  return requireManagedService(ecs, target);
}

/** Rolls the plan's image out: a new pinned revision, or an existing one for a requested rollback. */
export function deploy(ecs: ECSClient, plan: DeployPlan): Promise<EcsDeployment> {
  return plan.desired.taskDefinitionArn
    ? deployTaskDefinitionToEcs(ecs, plan.config.target, plan.desired.taskDefinitionArn)
    : deployImageToEcs(ecs, plan.config.target, plan.desired.image, plan.executionArn);
}

/**
 * Puts the rollback target back. When ECS's circuit breaker rolls the deployment back itself,
 * Gantry follows ECS's own rollback deployment instead of starting a second one.
 */
export async function rollBack(
  ecs: ECSClient,
  state: DeployState,
  patience?: EcsRollbackPatience,
): Promise<EcsDeployment> {
  const target = rollbackTarget(state);
  const details = causeDetails(state.failure).details;
  const failedDeploymentId = state.deployment?.deploymentId ?? details?.deploymentId;
  if (details?.ecsRolledBack === true && typeof failedDeploymentId === 'string') {
    const ecsRollback = await followEcsRollback(
      ecs,
      state.plan.config.target,
      failedDeploymentId,
      target.taskDefinitionArn,
      patience,
    );
    if (ecsRollback) return ecsRollback;
  }
  return deployTaskDefinitionToEcs(ecs, state.plan.config.target, target.taskDefinitionArn);
}
