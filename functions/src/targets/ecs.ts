import { DescribeTaskDefinitionCommand, type ECSClient } from '@aws-sdk/client-ecs';
import type { EcsTarget, GatesConfig, HealthConfig } from '../config/schema.ts';
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
import {
  describeServiceDeployment,
  judgeServiceDeployment,
  requireGateHooks,
  stopWithRollback,
  watchFor,
} from '../ecs/service-deployment.ts';
import { awsCall, RolloutNeedsOperator } from '../errors.ts';
import type { DeployTarget, TargetClients, TargetDeployment } from './target.ts';

/**
 * An ECS service on the ECS deployment controller. Its revision is a task definition ARN. A rolling
 * service's rollout is an ECS deployment, judged from the service and its stopped tasks; a
 * blue/green, linear or canary one's is a service deployment, judged from DescribeServiceDeployments
 * (ecs/service-deployment.ts), its pauses decided by Gantry when the config has `gates`.
 */
export function ecsTarget(
  target: EcsTarget,
  health: HealthConfig,
  clients: Pick<TargetClients, 'ecs'>,
  patience?: EcsRollbackPatience,
  gates?: GatesConfig,
): DeployTarget {
  const where = (deployment: TargetDeployment) => ({
    deploymentId: deployment.deploymentId,
    cluster: target.cluster,
    service: target.service,
    maxFailedTasks: health.maxFailedTasks,
    ...(deployment.watch && { watch: deployment.watch }),
  });
  const neutralWithWatch = (deployment: EcsDeployment): TargetDeployment => {
    const started = deployment.serviceDeployment;
    if (!started) return neutral(deployment);
    return {
      ...neutral(deployment),
      watch: watchFor(started.service, started.strategy, started.arn, {
        gates,
        healthSeconds: health.timeoutSeconds,
      }),
    };
  };
  return {
    type: 'ecs',
    requireDeployable: async () => {
      await requireManagedService(clients.ecs, target);
      if (gates) requireGateHooks(await describeService(clients.ecs, target), target);
    },
    deploy: async (plan) => neutralWithWatch(await deployToEcs(clients, target, plan)),
    rollBack: async (state) => {
      const watched = state.deployment?.watch;
      if (watched && state.deployment)
        return rollBackServiceDeployment(clients, state.deployment, watched, state, target, {
          fresh: neutralWithWatch,
          healthSeconds: health.timeoutSeconds,
        });
      return neutral(await rollBackEcs(clients, target, state, patience));
    },
    // What onEcsEvent reads back (ecs/rollout.ts rolloutWaitSchema), beside the deployment id.
    parkedDetails: (deployment) => {
      const { deploymentId: _, ...details } = where(deployment);
      return details;
    },
    judgeRollout: (deployment, options) => {
      const { watch, ...rolling } = where(deployment);
      if (!watch) return evaluateRollout(clients.ecs, rolling, options);
      // A timer expiry with re-checks left re-reads the status; only the last one can time out.
      return judgeServiceDeployment(
        clients.ecs,
        { ...rolling, watch },
        { deadlinePassed: options.deadlinePassed && watch.rechecksLeft <= 0 },
      );
    },
    preview: (plan) => previewEcsDeploy(clients.ecs, target, plan),
    requireRunnable: (release) => requireRunnableTaskDefinition(clients.ecs, release.revision, release.image),
    readLive: async (options = {}) => {
      const service = await describeService(clients.ecs, target);
      const primary = service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
      const revision = service.taskDefinition ?? 'unknown';
      const image = options.withImage
        ? await containerImage(clients.ecs, revision, target.container)
        : undefined;
      return {
        revision,
        ...(primary?.id && primary.rolloutState === 'IN_PROGRESS' && { deploymentInProgress: primary.id }),
        ...(image !== undefined && { image }),
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

/** How often a staged rollback in place is re-read: ECS announces no end of a rollback. */
const rollbackRecheckSeconds = 30;

/**
 * Rolls a staged deployment back. Unfinished (PENDING, IN_PROGRESS): StopServiceDeployment
 * ROLLBACK, near instant during bake because the old revision still serves; already rolling back
 * or rolled back by ECS (a hook's ROLLBACK, Gantry's gate): followed, not doubled; finished
 * SUCCESSFUL (a rollback requested after the release): a new deployment to the rollback target,
 * as for rolling services. ROLLBACK_FAILED and STOPPED need a person.
 */
async function rollBackServiceDeployment(
  clients: Pick<TargetClients, 'ecs'>,
  deployment: TargetDeployment,
  watch: NonNullable<TargetDeployment['watch']>,
  state: DeployState,
  target: EcsTarget,
  options: { fresh: (deployment: EcsDeployment) => TargetDeployment; healthSeconds: number },
): Promise<TargetDeployment> {
  const goal = rollbackTarget(state);
  const before = await stopWithRollback(clients.ecs, watch.serviceDeploymentArn);
  const inPlace = (): TargetDeployment => ({
    ...deployment,
    revision: goal.revision,
    previousRevision: deployment.revision,
    // ECS sends no event when the rollback ends (ROLLBACK_SUCCESSFUL), and during bake it takes
    // seconds: WaitForServiceRollback re-reads it every half minute, within the health budget.
    watch: {
      ...watch,
      expect: 'ROLLBACK_SUCCESSFUL',
      gated: false,
      waitSeconds: rollbackRecheckSeconds,
      rechecksLeft: Math.ceil(options.healthSeconds / rollbackRecheckSeconds),
    },
  });
  if (
    ['PENDING', 'IN_PROGRESS', 'ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_SUCCESSFUL'].includes(
      before,
    )
  ) {
    return inPlace();
  }
  if (before === 'SUCCESSFUL') {
    const next = options.fresh(await deployTaskDefinitionToEcs(clients.ecs, target, goal.revision));
    // Known limit (README, "Limits"): WaitForServiceRollback does not decide gates, so this
    // deployment's pause hooks run to their own timeoutConfiguration action.
    return next.watch ? { ...next, watch: { ...next.watch, gated: false } } : next;
  }
  const now = await describeServiceDeployment(clients.ecs, watch.serviceDeploymentArn);
  throw new RolloutNeedsOperator(
    `service deployment ${watch.serviceDeploymentArn} is ${now.status ?? before}: Gantry cannot roll it back; a person must check what runs`,
  );
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

/** The named container's image in a task definition revision. */
async function containerImage(
  ecs: ECSClient,
  revision: string,
  container: string,
): Promise<string | undefined> {
  const { taskDefinition } = await awsCall(`describing ${revision}`, () =>
    ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: revision })),
  );
  return taskDefinition?.containerDefinitions?.find(({ name }) => name === container)?.image;
}
