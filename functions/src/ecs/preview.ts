import {
  type ContainerDefinition,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import type { EcsTarget } from '../config/schema.ts';
import type { DeployPlan } from '../deploy-plan.ts';
import { awsCall, DeployFailed, hasErrorName } from '../errors.ts';
import type { TargetPreview } from '../targets/target.ts';
import { describeService } from './deploy.ts';
import { describeCopyableTaskDefinition, withContainerImage } from './task-definition.ts';

/**
 * `gantry plan` on ECS, with reads only: the task definition the deploy would register (the
 * service's current one with the target container's image changed, exactly as deployImageToEcs
 * builds it), or, for a rollback, the recorded revision UpdateService would point at; and the
 * roles and secrets that revision hands to ECS, for the verify list.
 */
export async function previewEcsDeploy(
  ecs: ECSClient,
  target: EcsTarget,
  plan: DeployPlan,
): Promise<TargetPreview> {
  const service = await describeService(ecs, target);
  const currentArn = service.taskDefinition;
  if (!currentArn)
    throw new DeployFailed(`ECS service ${target.cluster}/${target.service} has no task definition`);
  const { taskDefinition: current, tags } = await describeCopyableTaskDefinition(ecs, currentArn);
  if (!current) throw new DeployFailed(`task definition ${currentArn} not found`);
  const controller = service.deploymentController?.type ?? 'ECS';
  const checks: TargetPreview['checks'] = [
    {
      check: 'deployment controller',
      status: controller === 'ECS' ? 'ok' : 'fail',
      detail:
        controller === 'ECS'
          ? 'rolling update (ECS): UpdateService takes a task definition'
          : `${controller}: Gantry deploys only services on the rolling update (ECS) controller`,
    },
  ];
  const currentImage = current.containerDefinitions?.find(
    (container) => container.name === target.container,
  )?.image;
  // Both sides go through the same copy, so the diff shows what changes, not the read-only fields.
  const before = withContainerImage(current, tags, target.container, currentImage ?? '');
  if (plan.desired.revision) {
    const { taskDefinition: recorded } = await describeCopyableTaskDefinition(ecs, plan.desired.revision);
    if (!recorded) throw new DeployFailed(`task definition ${plan.desired.revision} not found`);
    checks.push(runnableCheck(recorded));
    const image = recorded.containerDefinitions?.find(
      (container) => container.name === target.container,
    )?.image;
    return {
      change: `UpdateService ${target.cluster}/${target.service}: ${currentArn} → ${plan.desired.revision} (recorded revision, reused)`,
      before,
      after: withContainerImage(recorded, tags, target.container, image ?? ''),
      references: referencesOf(recorded),
      checks,
    };
  }
  return {
    change: `RegisterTaskDefinition ${current.family} (a new revision of ${currentArn}), then UpdateService ${target.cluster}/${target.service}`,
    before,
    after: withContainerImage(current, tags, target.container, plan.desired.image),
    references: referencesOf(current),
    checks,
  };
}

/**
 * Refuses a recorded revision ECS no longer runs. "You can't update an existing service to
 * reference an INACTIVE task definition revision" (Amazon ECS developer guide, "Deregistering an
 * Amazon ECS task definition revision"); DELETE_IN_PROGRESS is past INACTIVE ("Amazon ECS task
 * definition states"). Gantry does not re-register a copy of an old revision: it would bring back
 * roles and secrets as they were then. Deploying the release's image registers a fresh revision
 * of the current definition instead; the message says how.
 */
export async function requireRunnableTaskDefinition(
  ecs: ECSClient,
  revision: string,
  image: string,
): Promise<void> {
  let taskDefinition: TaskDefinition | undefined;
  try {
    ({ taskDefinition } = await awsCall(`describing task definition ${revision}`, () =>
      ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: revision })),
    ));
  } catch (error) {
    // ECS answers an unknown revision with ClientException "Unable to describe task definition".
    if (!hasErrorName(error, 'ClientException')) throw error;
  }
  const check = taskDefinition
    ? runnableCheck(taskDefinition)
    : { status: 'fail' as const, detail: `${revision} no longer exists` };
  if (check.status === 'fail') {
    throw new DeployFailed(
      `${check.detail}; to run that image again, deploy it: it gets a new revision (${image})`,
    );
  }
}

function runnableCheck(taskDefinition: TaskDefinition): TargetPreview['checks'][number] {
  const status = taskDefinition.status ?? 'ACTIVE';
  return {
    check: 'recorded revision can run',
    status: status === 'ACTIVE' ? 'ok' : 'fail',
    detail:
      status === 'ACTIVE'
        ? `${taskDefinition.taskDefinitionArn} is ACTIVE`
        : `${taskDefinition.taskDefinitionArn} is ${status}: ECS does not update a service to a deregistered revision`,
  };
}

/** The roles and secrets a revision hands to ECS (the task role, the execution role, each container's secrets). */
function referencesOf(taskDefinition: TaskDefinition): TargetPreview['references'] {
  const roles = [
    ...(taskDefinition.taskRoleArn ? [{ arn: taskDefinition.taskRoleArn, use: 'task' as const }] : []),
    ...(taskDefinition.executionRoleArn
      ? [{ arn: taskDefinition.executionRoleArn, use: 'execution' as const }]
      : []),
  ];
  const secrets = (taskDefinition.containerDefinitions ?? []).flatMap((container: ContainerDefinition) =>
    (container.secrets ?? []).map((secret) => secret.valueFrom ?? ''),
  );
  return { roles, secrets: [...new Set(secrets.filter(Boolean))] };
}
