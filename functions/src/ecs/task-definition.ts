import {
  DescribeTaskDefinitionCommand,
  type DescribeTaskDefinitionCommandOutput,
  type ECSClient,
  type RegisterTaskDefinitionCommandInput,
  type Tag,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { awsCall, DeployFailed, TaskDefinitionNotCopyable } from '../errors.ts';

/**
 * Fields DescribeTaskDefinition returns that RegisterTaskDefinition refuses (the read-only members
 * of `TaskDefinition` in the ECS API model, @aws-sdk/client-ecs). Everything else the SDK returned
 * is copied as it is; fields the SDK does not model never reach here: they are refused by
 * {@link describeCopyableTaskDefinition}, since the SDK would drop them.
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
  'deleteRequestedAt',
] as const satisfies readonly (keyof TaskDefinition)[];

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

/**
 * DescribeTaskDefinition with its tags, refusing a task definition the copy would not reproduce.
 * The SDK deserializes through its model and drops members it does not know (a field ECS added
 * after the bundled @aws-sdk/client-ecs was built), and RegisterTaskDefinition's serializer drops
 * them again on the way out: a deploy would silently remove the feature. So the raw response body
 * is kept (a middleware right under the deserializer) and compared with what the SDK returned.
 */
export async function describeCopyableTaskDefinition(
  ecs: ECSClient,
  taskDefinitionArn: string,
): Promise<DescribeTaskDefinitionCommandOutput> {
  const command = new DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn, include: ['TAGS'] });
  let rawBody: Uint8Array | undefined;
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as { statusCode?: number; body?: unknown };
      if (response.statusCode !== 200) return result;
      // The Node HTTP handler answers a stream: read it once, and give the deserializer the bytes,
      // which it reads as they are. A handler that already read the body hands over bytes itself.
      const stream = response.body as Partial<AsyncIterable<Uint8Array>> | undefined;
      if (typeof stream?.[Symbol.asyncIterator] === 'function') {
        const chunks: Uint8Array[] = [];
        for await (const chunk of stream as AsyncIterable<Uint8Array>) chunks.push(chunk);
        response.body = Buffer.concat(chunks);
      }
      if (response.body instanceof Uint8Array) rawBody = response.body;
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'gantryKeepRawTaskDefinition' },
  );
  const described = await awsCall('describing the current task definition', () => ecs.send(command));
  const raw = rawBody === undefined ? undefined : parseJson(Buffer.from(rawBody).toString('utf8'));
  if (isRecord(raw) && described.taskDefinition) {
    const dropped = droppedFields(raw.taskDefinition, described.taskDefinition, 'taskDefinition');
    if (dropped.length > 0) {
      throw new TaskDefinitionNotCopyable(
        `task definition ${taskDefinitionArn} has field(s) the bundled AWS SDK does not know, which a copy would drop: ${dropped.join(', ')}. Nothing was changed; update Gantry's @aws-sdk/client-ecs to deploy this service.`,
      );
    }
  }
  return described;
}

/** Paths present (and not null) in the raw JSON but missing from what the SDK deserialized. */
function droppedFields(raw: unknown, parsed: unknown, path: string): string[] {
  if (Array.isArray(raw) && Array.isArray(parsed)) {
    return raw.flatMap((item, index) => droppedFields(item, parsed[index], `${path}[${index}]`));
  }
  if (!isRecord(raw) || !isRecord(parsed)) return [];
  return Object.entries(raw).flatMap(([key, value]) => {
    if (value === null) return [];
    if (!(key in parsed)) return [`${path}.${key}`];
    return droppedFields(value, parsed[key], `${path}.${key}`);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
