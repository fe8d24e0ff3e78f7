import type { DeployConfig } from '../config/schema.ts';
import type { DeployState } from '../deploy-state.ts';
import type { TargetDeployment } from './target.ts';

/**
 * Executions started before targets were neutral run the old state machine definition to their
 * end (an execution keeps the definition it started with), but call the functions as they are
 * now. ECS was the only target then, so their state names ECS fields: these read them as the
 * neutral ones, so an upgrade in the middle of a deploy neither loses the rollback target nor
 * records an unknown revision.
 */
export function withNeutralState(state: DeployState): DeployState {
  const { plan } = state;
  return {
    ...state,
    plan: {
      ...plan,
      desired: withRevision(plan.desired),
      live: plan.live && withRevision(plan.live),
      livePrevious: plan.livePrevious && withRevision(plan.livePrevious),
    },
    ...(state.deployment && { deployment: neutralDeployment(state.deployment) }),
    ...(state.rollback && { rollback: neutralDeployment(state.rollback) }),
  };
}

/** An old `$.deployment`: `{ deploymentId, taskDefinitionArn, previousTaskDefinitionArn, previousImage? }`. */
function neutralDeployment(deployment: TargetDeployment): TargetDeployment {
  const old = deployment as Partial<TargetDeployment> & {
    deploymentId: string;
    taskDefinitionArn?: string;
    previousTaskDefinitionArn?: string;
  };
  if (old.target !== undefined) return deployment;
  const { taskDefinitionArn, previousTaskDefinitionArn, ...rest } = old;
  return {
    ...rest,
    target: 'ecs',
    revision: old.revision ?? taskDefinitionArn ?? 'unknown',
    previousRevision: old.previousRevision ?? previousTaskDefinitionArn ?? 'unknown',
  };
}

function withRevision<T extends { revision?: string }>(image: T): T {
  const { taskDefinitionArn, ...rest } = image as T & { taskDefinitionArn?: string };
  return taskDefinitionArn !== undefined && image.revision === undefined
    ? ({ ...rest, revision: taskDefinitionArn } as T)
    : image;
}

/** The old WaitForRollout/CheckRollout parameters: the ECS fields, no `$.deployment` nor config. */
export interface PreSeamRolloutWait {
  cluster: string;
  service: string;
  deploymentId: string;
  maxFailedTasks: number;
  timeoutSeconds?: number;
}

/**
 * The deployment and the config an old wait names, as far as judging its rollout needs them: the
 * ECS service and the failure limit. The revision is not part of the judgement.
 */
export function fromPreSeamWait(wait: PreSeamRolloutWait): {
  deployment: TargetDeployment;
  config: DeployConfig;
} {
  return {
    deployment: {
      target: 'ecs',
      deploymentId: wait.deploymentId,
      revision: 'unknown',
      previousRevision: 'unknown',
    },
    config: {
      repository: 'unknown',
      target: { type: 'ecs', cluster: wait.cluster, service: wait.service, container: 'unknown' },
      health: { timeoutSeconds: wait.timeoutSeconds ?? 900, maxFailedTasks: wait.maxFailedTasks },
      rollbackAlarms: [],
    },
  };
}
