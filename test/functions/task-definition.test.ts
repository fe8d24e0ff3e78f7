import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { withContainerImage } from '../../functions/src/ecs/task-definition.ts';
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

    it('drops every read-only field RegisterTaskDefinition refuses', () => {
      const { taskDefinition, tags } = current();

      const input = withContainerImage(
        { ...taskDefinition, deregisteredAt: new Date() },
        tags,
        'app',
        newImage,
      );

      for (const field of [...readOnly, 'deregisteredAt']) expect(input).not.toHaveProperty(field);
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

    it('carries fields it has never heard of (new ECS features)', () => {
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
  });
});
