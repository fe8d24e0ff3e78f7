import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  RegisterTaskDefinitionCommand,
  type Service,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import type { EcsTarget } from '../config/schema.ts';
import { awsCall, DeployFailed } from '../errors.ts';
import { withContainerImage } from './task-definition.ts';

export interface EcsDeployment {
  /** The ECS deployment id (`ecs-svc/…`) whose rollout Gantry waits for. */
  deploymentId: string;
  taskDefinitionArn: string;
  /** What the service ran before Gantry changed it: the rollback target when no release is recorded. */
  previousTaskDefinitionArn: string;
  /** The target container's image in that revision, so even a first deploy's rollback is recorded by image. */
  previousImage?: string;
}

export async function describeService(ecs: ECSClient, target: EcsTarget): Promise<Service> {
  const { services, failures } = await awsCall(`describing service ${target.service}`, () =>
    ecs.send(new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] })),
  );
  const service = services?.[0];
  if (service?.status !== 'ACTIVE') {
    const why = failures?.[0]?.reason ?? service?.status ?? 'not found';
    throw new DeployFailed(`ECS service ${target.cluster}/${target.service} is not usable: ${why}`);
  }
  return service as Service;
}

/** Registers a revision pinned to `image` (only the target container changes), then rolls it out. */
export async function deployImageToEcs(
  ecs: ECSClient,
  target: EcsTarget,
  image: string,
): Promise<EcsDeployment> {
  const service = await describeService(ecs, target);
  const previousTaskDefinitionArn = requireTaskDefinition(service, target);
  const { taskDefinition, tags } = await awsCall('describing the current task definition', () =>
    ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: previousTaskDefinitionArn, include: ['TAGS'] }),
    ),
  );
  if (!taskDefinition) throw new DeployFailed(`task definition ${previousTaskDefinitionArn} not found`);
  const registered = await awsCall('registering the new task definition', () =>
    ecs.send(
      new RegisterTaskDefinitionCommand(withContainerImage(taskDefinition, tags, target.container, image)),
    ),
  );
  const taskDefinitionArn = registered.taskDefinition?.taskDefinitionArn;
  if (!taskDefinitionArn) throw new DeployFailed('RegisterTaskDefinition returned no ARN');
  const deploymentId = await updateService(ecs, target, taskDefinitionArn);
  const previousImage = taskDefinition.containerDefinitions?.find((c) => c.name === target.container)?.image;
  return {
    deploymentId,
    taskDefinitionArn,
    previousTaskDefinitionArn,
    ...(previousImage !== undefined && { previousImage }),
  };
}

/** Points the service at an existing revision: a rollback, or a redeploy of a recorded release. */
export async function deployTaskDefinitionToEcs(
  ecs: ECSClient,
  target: EcsTarget,
  taskDefinitionArn: string,
): Promise<EcsDeployment> {
  const service = await describeService(ecs, target);
  const previousTaskDefinitionArn = requireTaskDefinition(service, target);
  const deploymentId = await updateService(ecs, target, taskDefinitionArn);
  return { deploymentId, taskDefinitionArn, previousTaskDefinitionArn };
}

/**
 * The deployment ECS is running for `taskDefinitionArn`: after its circuit breaker rolled a
 * failed deployment back, that is the rollback deployment ECS started itself.
 */
export async function findPrimaryDeployment(
  ecs: ECSClient,
  target: EcsTarget,
  taskDefinitionArn: string,
): Promise<EcsDeployment | undefined> {
  const service = await describeService(ecs, target);
  const primary = service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
  if (!primary?.id || primary.taskDefinition !== taskDefinitionArn) return undefined;
  return { deploymentId: primary.id, taskDefinitionArn, previousTaskDefinitionArn: taskDefinitionArn };
}

async function updateService(ecs: ECSClient, target: EcsTarget, taskDefinitionArn: string): Promise<string> {
  const { service } = await awsCall(`updating service ${target.service}`, () =>
    ecs.send(
      new UpdateServiceCommand({
        cluster: target.cluster,
        service: target.service,
        taskDefinition: taskDefinitionArn,
      }),
    ),
  );
  const primary = service?.deployments?.find((deployment) => deployment.status === 'PRIMARY');
  if (!primary?.id)
    throw new DeployFailed(`UpdateService on ${target.service} returned no PRIMARY deployment`);
  return primary.id;
}

function requireTaskDefinition(service: Service, target: EcsTarget): string {
  if (!service.taskDefinition) {
    throw new DeployFailed(`service ${target.cluster}/${target.service} has no task definition to copy`);
  }
  return service.taskDefinition;
}
