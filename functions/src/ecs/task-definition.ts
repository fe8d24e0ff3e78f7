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
  gantryTags: Tag[] = [],
): RegisterTaskDefinitionCommandInput {
  const containers = current.containerDefinitions ?? [];
  if (!containers.some((container) => container.name === containerName)) {
    const names = containers.map((container) => container.name).join(', ');
    throw new DeployFailed(
      `container "${containerName}" is not in task definition ${current.taskDefinitionArn} (it has: ${names})`,
    );
  }
  // `aws:` tags are reserved (RegisterTaskDefinition refuses them); ours replace the old revision's.
  const replaced = new Set(gantryTags.map((tag) => tag.key));
  const kept = [
    ...(tags ?? []).filter((tag) => !tag.key?.startsWith('aws:') && !replaced.has(tag.key)),
    ...gantryTags,
  ];
  const copy: Record<string, unknown> = { ...current };
  for (const field of readOnlyFields) delete copy[field];
  return {
    ...(copy as unknown as RegisterTaskDefinitionCommandInput),
    family: current.family,
    containerDefinitions: containers.map((container) =>
      container.name === containerName ? { ...container, image } : container,
    ),
    ...(kept.length > 0 && { tags: kept }),
  };
}
