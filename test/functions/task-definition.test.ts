import { Readable } from 'node:stream';
import { ECSClient, type TaskDefinition } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import {
  describeCopyableTaskDefinition,
  withContainerImage,
} from '../../functions/src/ecs/task-definition.ts';
import { describeTaskDefinitionResponse, story } from '../support/aws-fixtures.ts';

const newImage = `${story.registry}/web@${story.digest}`;
const readOnly = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'deleteRequestedAt',
] as const;

function current(): {
  taskDefinition: TaskDefinition;
  tags: NonNullable<ReturnType<typeof describeTaskDefinitionResponse>['tags']>;
} {
  const response = describeTaskDefinitionResponse();
  if (!response.taskDefinition || !response.tags) throw new Error('fixture lacks a task definition');
  return { taskDefinition: response.taskDefinition, tags: response.tags };
}

describe('withContainerImage', () => {
  describe('a container in the task definition', () => {
    it('changes only that container image and keeps every writable field', () => {
      // Prepare
      const { taskDefinition, tags } = current();
      const {
        taskDefinitionArn,
        revision,
        status,
        requiresAttributes,
        compatibilities,
        registeredAt,
        registeredBy,
        ...writable
      } = taskDefinition;
      const [app, logRouter] = taskDefinition.containerDefinitions ?? [];

      // Act
      const input = withContainerImage(taskDefinition, tags, 'app', newImage);

      // Assess
      expect(input).toStrictEqual({
        ...writable,
        containerDefinitions: [{ ...app, image: newImage }, logRouter],
        tags,
      });
    });

    it('drops every read-only field, even those of a revision whose deletion was requested', () => {
      const { taskDefinition, tags } = current();

      // A service may still run a revision that was deregistered, or whose deletion was requested
      // (DELETE_IN_PROGRESS until no task uses it): it then carries `deregisteredAt` and
      // `deleteRequestedAt` (ECS API model, TaskDefinition in @aws-sdk/client-ecs).
      const input = withContainerImage(
        {
          ...taskDefinition,
          status: 'DELETE_IN_PROGRESS',
          deregisteredAt: new Date(),
          deleteRequestedAt: new Date(),
        },
        tags,
        'app',
        newImage,
      );

      for (const field of readOnly) expect(input).not.toHaveProperty(field);
    });

    it('keeps secrets, environment, health check, log configuration, ports and EFS volume as they were', () => {
      const { taskDefinition, tags } = current();

      const input = withContainerImage(taskDefinition, tags, 'app', newImage);

      const before = taskDefinition.containerDefinitions?.[0];
      const after = input.containerDefinitions?.[0];
      expect(after?.secrets).toStrictEqual(before?.secrets);
      expect(after?.environment).toStrictEqual(before?.environment);
      expect(after?.healthCheck).toStrictEqual(before?.healthCheck);
      expect(after?.logConfiguration).toStrictEqual(before?.logConfiguration);
      expect(after?.portMappings).toStrictEqual(before?.portMappings);
      expect(input.volumes).toStrictEqual(taskDefinition.volumes);
      expect(input).toMatchObject({
        runtimePlatform: { cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' },
        ephemeralStorage: { sizeInGiB: 21 },
        cpu: '256',
        memory: '512',
        networkMode: 'awsvpc',
        executionRoleArn: taskDefinition.executionRoleArn,
        taskRoleArn: taskDefinition.taskRoleArn,
        requiresCompatibilities: ['FARGATE'],
      });
    });

    it('copies every field the SDK returned, including ones Gantry never names', () => {
      const { taskDefinition, tags } = current();
      const future = { ...taskDefinition, enableFaultInjection: true, someFutureField: { on: true } };

      const input = withContainerImage(future, tags, 'app', newImage);

      expect(input).toMatchObject({ enableFaultInjection: true, someFutureField: { on: true } });
    });

    it('does not modify the described task definition', () => {
      const { taskDefinition, tags } = current();
      const snapshot = structuredClone(taskDefinition);

      withContainerImage(taskDefinition, tags, 'app', newImage);

      expect(taskDefinition).toStrictEqual(snapshot);
    });
  });

  describe('tags', () => {
    it('keeps the tags DescribeTaskDefinition returned', () => {
      const { taskDefinition, tags } = current();

      expect(withContainerImage(taskDefinition, tags, 'app', newImage).tags).toStrictEqual([
        { key: 'team', value: 'payments' },
        { key: 'gantry:app', value: 'web' },
      ]);
    });

    it("puts Gantry's tags last, replacing those an earlier deploy left on the revision", () => {
      // Prepare: the running revision was registered by an earlier Gantry execution.
      const { taskDefinition, tags } = current();
      const earlier = [
        ...tags,
        { key: 'gantry:execution', value: `${story.executionArn}-earlier` },
        { key: 'gantry:previous-task-definition', value: story.previousTaskDefinitionArn },
      ];
      const ours = [
        { key: 'gantry:execution', value: story.executionArn },
        { key: 'gantry:previous-task-definition', value: story.taskDefinitionArn },
      ];

      // Act
      const input = withContainerImage(taskDefinition, earlier, 'app', newImage, ours);

      // Assess
      expect(input.tags).toStrictEqual([...tags, ...ours]);
    });

    it('drops the reserved aws: tags, which RegisterTaskDefinition refuses', () => {
      const { taskDefinition, tags } = current();
      const withReserved = [{ key: 'aws:cloudformation:stack-name', value: 'legacy' }, ...tags];

      expect(withContainerImage(taskDefinition, withReserved, 'app', newImage).tags).toStrictEqual(tags);
    });

    it('omits tags when there are none (RegisterTaskDefinition refuses an empty list)', () => {
      const { taskDefinition } = current();

      expect(withContainerImage(taskDefinition, [], 'app', newImage)).not.toHaveProperty('tags');
      expect(withContainerImage(taskDefinition, undefined, 'app', newImage)).not.toHaveProperty('tags');
    });
  });

  describe('an unknown container', () => {
    it('throws DeployFailed naming the containers the task definition has', () => {
      const { taskDefinition, tags } = current();

      expect(() => withContainerImage(taskDefinition, tags, 'web', newImage)).toThrow(
        expect.objectContaining({
          name: 'DeployFailed',
          message: `container "web" is not in task definition ${story.previousTaskDefinitionArn} (it has: app, log-router)`,
        }),
      );
    });

    it('says the task definition has no container at all when it lists none', () => {
      const { taskDefinition, tags } = current();
      const { containerDefinitions: _, ...withoutContainers } = taskDefinition;

      expect(() => withContainerImage(withoutContainers, tags, 'app', newImage)).toThrow(
        expect.objectContaining({
          name: 'DeployFailed',
          message: `container "app" is not in task definition ${story.previousTaskDefinitionArn} (it has: )`,
        }),
      );
    });
  });
});

describe('describeCopyableTaskDefinition', () => {
  /** An ECS client whose HTTP layer answers DescribeTaskDefinition with `body`, as AWS would send it. */
  function ecsAnswering(body: unknown, statusCode = 200, buffered = false) {
    return new ECSClient({
      region: story.region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
      requestHandler: {
        handle: async () => ({
          response: {
            statusCode,
            reason: statusCode === 200 ? 'OK' : 'Bad Request',
            headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'r-1' },
            // The Node handler answers a stream; another handler may hand over the bytes already read.
            body: buffered
              ? Buffer.from(JSON.stringify(body))
              : Readable.from([Buffer.from(JSON.stringify(body))]),
          },
        }),
      },
    });
  }

  const described = {
    taskDefinition: {
      taskDefinitionArn: story.previousTaskDefinitionArn,
      family: 'web',
      revision: 41,
      registeredAt: 1748423564.391,
      containerDefinitions: [
        {
          name: 'app',
          image: `${story.registry}/web@${story.previousDigest}`,
          essential: true,
          dockerLabels: { team: 'payments' },
          environment: [{ name: 'MODE', value: 'prod' }],
        },
      ],
    },
    tags: [{ key: 'app', value: 'web' }],
  };

  it('returns the task definition when the SDK kept every field ECS sent', async () => {
    const result = await describeCopyableTaskDefinition(
      ecsAnswering(described),
      story.previousTaskDefinitionArn,
    );

    expect(result.taskDefinition?.containerDefinitions?.[0]?.dockerLabels).toEqual({ team: 'payments' });
    expect(result.tags).toEqual([{ key: 'app', value: 'web' }]);
  });

  it.each([
    ['a stream', false],
    ['bytes already read', true],
  ])(
    'refuses with TaskDefinitionNotCopyable, naming them, fields the bundled SDK would drop, from %s',
    async (_, buffered) => {
      // Prepare: ECS answers with fields newer than the bundled SDK's model.
      const withNewFeatures = structuredClone(described) as typeof described & {
        taskDefinition: { quantumScheduling?: unknown; containerDefinitions: Record<string, unknown>[] };
      };
      withNewFeatures.taskDefinition.quantumScheduling = { enabled: true };
      (withNewFeatures.taskDefinition.containerDefinitions[0] as Record<string, unknown>).gpuSharing =
        'SHARED';

      // Act
      const describing = describeCopyableTaskDefinition(
        ecsAnswering(withNewFeatures, 200, buffered),
        story.previousTaskDefinitionArn,
      );

      // Assess
      await expect(describing).rejects.toMatchObject({
        name: 'TaskDefinitionNotCopyable',
        message: expect.stringContaining(
          'would drop: taskDefinition.containerDefinitions[0].gpuSharing, taskDefinition.quantumScheduling.',
        ),
      });
    },
  );

  it('turns a throttled DescribeTaskDefinition into TransientAwsError saying what it was doing', async () => {
    // Prepare: ECS's JSON error shape (awsJson1_1: `__type` and `message`).
    const throttled = ecsAnswering({ __type: 'ThrottlingException', message: 'Rate exceeded' }, 400);

    // Act
    const describing = describeCopyableTaskDefinition(throttled, story.previousTaskDefinitionArn);

    // Assess
    await expect(describing).rejects.toMatchObject({
      name: 'TransientAwsError',
      message: 'describing the current task definition: ThrottlingException: Rate exceeded',
    });
  });

  it('does not count a null ECS sent in a list', async () => {
    const withNullItem = structuredClone(described) as typeof described & {
      taskDefinition: { containerDefinitions: { environment: unknown[] }[] };
    };
    withNullItem.taskDefinition.containerDefinitions[0]?.environment.unshift(null);

    await expect(
      describeCopyableTaskDefinition(ecsAnswering(withNullItem), story.previousTaskDefinitionArn),
    ).resolves.toMatchObject({ taskDefinition: { family: 'web' } });
  });

  it('does not count a field ECS sent as null', async () => {
    const withNull = structuredClone(described) as typeof described & {
      taskDefinition: { ipcMode?: null; futureThing?: null };
    };
    withNull.taskDefinition.futureThing = null;

    await expect(
      describeCopyableTaskDefinition(ecsAnswering(withNull), story.previousTaskDefinitionArn),
    ).resolves.toMatchObject({ taskDefinition: { family: 'web' } });
  });
});
