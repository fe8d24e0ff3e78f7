import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, type LockClaim, releaseLock } from '../../functions/src/lock.ts';
import { appEnvParameters } from '../../functions/src/parameters.ts';
import { story } from '../support/aws-fixtures.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';

const parameters = appEnvParameters('/gantry', 'web', 'prod');
const executionOf = (name: string) =>
  `arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:${name}`;
const claimOf = (name: string, requestedAt: string): LockClaim => ({
  executionArn: executionOf(name),
  requestedAt,
  image: `${story.registry}/web@${story.digest}`,
});

const holder = claimOf('holder', '2025-06-03T10:00:00Z');
const ours = claimOf('ours', '2025-06-03T10:15:01Z');
const newer = claimOf('newer', '2025-06-03T10:20:00Z');
const older = claimOf('older', '2025-06-03T10:05:00Z');

const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({ region: story.region });
let ssm: ReturnType<typeof fakeParameterStore>;

beforeEach(() => {
  ssm = fakeParameterStore();
});

afterEach(() => {
  ssm.mock.reset();
  sfnMock.reset();
});

function holderIs(status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT') {
  sfnMock.on(DescribeExecutionCommand).resolves({
    executionArn: holder.executionArn,
    stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy',
    status,
    startDate: new Date('2025-06-03T10:00:00Z'),
  });
}

describe('lock', () => {
  describe('acquireLock', () => {
    it('acquires a free lock with a conditional create', async () => {
      // Act
      const outcome = await acquireLock({ ssm: ssm.client, sfn }, parameters, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired' });
      expect(ssm.json(parameters.lock)).toEqual(ours);
      expect(ssm.mock).toHaveReceivedCommandWith(PutParameterCommand, {
        Name: parameters.lock,
        Overwrite: false,
        Type: 'String',
      });
      expect(sfnMock).not.toHaveReceivedCommand(DescribeExecutionCommand);
    });

    describe('held by a RUNNING execution', () => {
      it('waits and records itself in next', async () => {
        // Prepare
        ssm.put(parameters.lock, holder);
        holderIs('RUNNING');

        // Act
        const outcome = await acquireLock({ ssm: ssm.client, sfn }, parameters, ours);

        // Assess
        expect(outcome).toEqual({ status: 'waiting', holder: holder.executionArn });
        expect(ssm.json(parameters.lock)).toEqual(holder);
        expect(ssm.json(parameters.next)).toEqual(ours);
        expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, {
          executionArn: holder.executionArn,
        });
      });

      it('replaces an older waiter in next', async () => {
        ssm.put(parameters.lock, holder);
        ssm.put(parameters.next, older);
        holderIs('RUNNING');

        await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toMatchObject({
          status: 'waiting',
        });
        expect(ssm.json(parameters.next)).toEqual(ours);
      });

      it('does not rewrite next when it already waits there', async () => {
        ssm.put(parameters.lock, holder);
        ssm.put(parameters.next, ours);
        holderIs('RUNNING');

        await acquireLock({ ssm: ssm.client, sfn }, parameters, ours);

        expect(ssm.mock).not.toHaveReceivedCommandWith(PutParameterCommand, { Name: parameters.next });
        expect(ssm.parameters.get(parameters.next)?.version).toBe(1);
      });
    });

    it('stands down as superseded when next holds a newer request', async () => {
      ssm.put(parameters.lock, holder);
      ssm.put(parameters.next, newer);
      holderIs('RUNNING');

      const outcome = await acquireLock({ ssm: ssm.client, sfn }, parameters, ours);

      expect(outcome).toEqual({ status: 'superseded', by: newer.executionArn });
      expect(ssm.json(parameters.next)).toEqual(newer);
      expect(ssm.json(parameters.lock)).toEqual(holder);
    });

    it('stands down as superseded when a newer request already holds the lock', async () => {
      ssm.put(parameters.lock, newer);
      holderIs('RUNNING');

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'superseded',
        by: newer.executionArn,
      });
      expect(ssm.parameters.has(parameters.next)).toBe(false);
      expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, {
        executionArn: newer.executionArn,
      });
    });

    it('stands down as superseded when the recorded release came from a newer request', async () => {
      ssm.put(parameters.release, {
        kind: 'release',
        image: newer.image,
        digest: story.digest,
        taskDefinitionArn: story.taskDefinitionArn,
        at: '2025-06-03T10:24:00Z',
        executionArn: newer.executionArn,
        requestedAt: newer.requestedAt,
        previous: null,
      });

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'superseded',
        by: newer.executionArn,
      });
      expect(ssm.parameters.has(parameters.lock)).toBe(false);
    });

    it('ignores a recorded release written before records carried requestedAt', async () => {
      ssm.put(parameters.release, {
        kind: 'release',
        image: newer.image,
        digest: story.digest,
        taskDefinitionArn: story.taskDefinitionArn,
        at: '2025-06-03T10:24:00Z',
        executionArn: newer.executionArn,
        previous: null,
      });

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'acquired',
      });
    });

    it('is superseded by a newer waiter even when the lock is free', async () => {
      ssm.put(parameters.next, newer);
      holderIs('RUNNING');

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'superseded',
        by: newer.executionArn,
      });
      expect(ssm.parameters.has(parameters.lock)).toBe(false);
    });

    it('is not superseded by a newer waiter that has since died, and takes the lock', async () => {
      ssm.put(parameters.next, newer);
      holderIs('ABORTED');

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'acquired',
      });
      expect(ssm.json(parameters.lock)).toEqual(ours);
    });

    it('clears its own waiting claim once it holds the lock', async () => {
      ssm.put(parameters.next, ours);

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'acquired',
      });
      expect(ssm.parameters.has(parameters.next)).toBe(false);
    });

    it('reports acquired to a retried acquire by the holder, even when a newer request waits', async () => {
      // Prepare: the first attempt acquired, its response was lost, and a newer push arrived since.
      ssm.put(parameters.lock, ours);
      ssm.put(parameters.next, newer);

      // Act
      const outcome = await acquireLock({ ssm: ssm.client, sfn }, parameters, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired' });
      expect(ssm.json(parameters.lock)).toEqual(ours);
      expect(sfnMock).not.toHaveReceivedCommand(DescribeExecutionCommand);
    });

    it('takes the lock as the waiter in next once it is free', async () => {
      ssm.put(parameters.next, ours);

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'acquired',
      });
      expect(ssm.json(parameters.lock)).toEqual(ours);
    });

    describe('held by an execution that ended', () => {
      it.each(['SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'] as const)(
        'reclaims the lock of a %s holder and acquires it',
        async (status) => {
          ssm.put(parameters.lock, holder);
          holderIs(status);

          const outcome = await acquireLock({ ssm: ssm.client, sfn }, parameters, ours);

          expect(outcome).toEqual({ status: 'acquired' });
          expect(ssm.json(parameters.lock)).toEqual(ours);
          expect(ssm.mock).toHaveReceivedCommandWith(DeleteParameterCommand, { Name: parameters.lock });
        },
      );

      it('reclaims the lock of a holder Step Functions no longer knows', async () => {
        ssm.put(parameters.lock, holder);
        sfnMock
          .on(DescribeExecutionCommand)
          .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));

        await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
          status: 'acquired',
        });
        expect(ssm.json(parameters.lock)).toEqual(ours);
      });
    });

    it('turns a throttled DescribeExecution into TransientAwsError and leaves the lock alone', async () => {
      ssm.put(parameters.lock, holder);
      sfnMock.on(DescribeExecutionCommand).rejects(
        Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        }),
      );

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).rejects.toMatchObject({
        name: 'TransientAwsError',
      });
      expect(ssm.json(parameters.lock)).toEqual(holder);
    });
  });

  describe('releaseLock', () => {
    it('deletes its own lock', async () => {
      ssm.put(parameters.lock, ours);

      await expect(releaseLock(ssm.client, parameters, ours.executionArn)).resolves.toEqual({
        released: true,
      });
      expect(ssm.parameters.has(parameters.lock)).toBe(false);
    });

    it("leaves someone else's lock alone", async () => {
      ssm.put(parameters.lock, holder);

      await expect(releaseLock(ssm.client, parameters, ours.executionArn)).resolves.toEqual({
        released: false,
      });
      expect(ssm.json(parameters.lock)).toEqual(holder);
      expect(ssm.mock).not.toHaveReceivedCommand(DeleteParameterCommand);
    });

    it('is a no-op the second time', async () => {
      ssm.put(parameters.lock, ours);
      await releaseLock(ssm.client, parameters, ours.executionArn);

      await expect(releaseLock(ssm.client, parameters, ours.executionArn)).resolves.toEqual({
        released: false,
      });
      expect(ssm.mock).toHaveReceivedCommandTimes(DeleteParameterCommand, 1);
    });

    it('lets the next waiter acquire once released', async () => {
      ssm.put(parameters.lock, holder);
      await releaseLock(ssm.client, parameters, holder.executionArn);

      await expect(acquireLock({ ssm: ssm.client, sfn }, parameters, ours)).resolves.toEqual({
        status: 'acquired',
      });
    });
  });
});
