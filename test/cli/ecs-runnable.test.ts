import { ClientException, DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { requireRunnableTaskDefinition } from '../../functions/src/ecs/preview.ts';
import { DeployFailed } from '../../functions/src/errors.ts';
import { live } from '../support/deploy-states.ts';

/* A recorded ECS revision a rollback may go back to: ECS updates a service only to an ACTIVE one. */

const ecs = mockClient(ECSClient);
const revision = live.revision;

afterEach(() => {
  ecs.reset();
});

describe('requireRunnableTaskDefinition', () => {
  it('accepts an ACTIVE revision', async () => {
    ecs
      .on(DescribeTaskDefinitionCommand)
      .resolves({ taskDefinition: { taskDefinitionArn: revision, status: 'ACTIVE' } });

    await expect(
      requireRunnableTaskDefinition(new ECSClient({}), revision, live.image),
    ).resolves.toBeUndefined();
  });

  it.each(['INACTIVE', 'DELETE_IN_PROGRESS'] as const)(
    'refuses a %s revision and says how to run the image again',
    async (status) => {
      ecs
        .on(DescribeTaskDefinitionCommand)
        .resolves({ taskDefinition: { taskDefinitionArn: revision, status } });

      const refusal = requireRunnableTaskDefinition(new ECSClient({}), revision, live.image);

      await expect(refusal).rejects.toThrow(DeployFailed);
      await expect(refusal).rejects.toThrow(
        `${revision} is ${status}: ECS does not update a service to a deregistered revision; to run that image again, deploy it`,
      );
    },
  );

  it('refuses a revision ECS no longer knows', async () => {
    ecs
      .on(DescribeTaskDefinitionCommand)
      .rejects(new ClientException({ message: 'Unable to describe task definition.', $metadata: {} }));

    await expect(requireRunnableTaskDefinition(new ECSClient({}), revision, live.image)).rejects.toThrow(
      `${revision} no longer exists`,
    );
  });
});
