import type { RegisterTaskDefinitionCommandInput, Tag, TaskDefinition } from '@aws-sdk/client-ecs';
import { DeployFailed } from '../errors.ts';

/**
 * Fields DescribeTaskDefinition returns that RegisterTaskDefinition refuses. Everything else is
 * copied as it is, so fields we have never heard of (new ECS features) survive a deploy.
 */
const readOnlyFields = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'deleteRequested',
] as const;

/** A new revision of `current` identical but for the image of one container. */
export function withContainerImage(
  current: TaskDefinition,
  tags: Tag[] | undefined,
  containerName: string,
  image: string,
): RegisterTaskDefinitionCommandInput {
  const containers = current.containerDefinitions ?? [];
  if (!containers.some((container) => container.name === containerName)) {
    const names = containers.map((container) => container.name).join(', ');
    throw new DeployFailed(
      `container "${containerName}" is not in task definition ${current.taskDefinitionArn} (it has: ${names})`,
    );
  }
  const copy: Record<string, unknown> = { ...current };
  for (const field of readOnlyFields) delete copy[field];
  return {
    ...(copy as unknown as RegisterTaskDefinitionCommandInput),
    family: current.family,
    containerDefinitions: containers.map((container) =>
      container.name === containerName ? { ...container, image } : container,
    ),
    ...(tags && tags.length > 0 && { tags }),
  };
}
