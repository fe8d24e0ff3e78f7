import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanUpAfterExecution } from '../../functions/src/coordination/execution-ended.ts';
import { appEnvPartition, keyOf } from '../../functions/src/coordination/table.ts';
import {
  acquireLock,
  type LockClaim,
  type LockDependencies,
  parkWaiter,
  releaseLock,
  wakeWaiter,
} from '../../functions/src/lock.ts';
import { appendRelease, type ReleaseRecord } from '../../functions/src/release.ts';
import { story } from '../support/aws-fixtures.ts';
import { live } from '../support/deploy-states.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const where = { app: 'web', env: 'prod' };
const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
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
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: LockDependencies;

beforeEach(() => {
  table = fakeCoordinationTable();
  deps = {
    table: table.table,
    sfn: new SFNClient({ region: story.region }),
    now: () => new Date('2025-06-03T10:16:00Z'),
  };
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'gone', $metadata: {} }));
});

afterEach(() => {
  table.mock.reset();
  sfnMock.reset();
});

function running(...claims: LockClaim[]) {
  for (const claim of claims) {
    sfnMock.on(DescribeExecutionCommand, { executionArn: claim.executionArn }).resolves({
      executionArn: claim.executionArn,
      stateMachineArn,
      status: 'RUNNING',
      startDate: new Date(claim.requestedAt),
    });
  }
}

async function held(by: LockClaim) {
  await expect(acquireLock(deps, where, by)).resolves.toEqual({ status: 'acquired' });
}

async function parked(claim: LockClaim, taskToken: string) {
  return parkWaiter(deps, where, { ...claim, taskToken, timeoutSeconds: 2400 });
}

const lockItem = () => table.appEnvItem('web', 'prod', 'lock');
const waiterItem = () => table.appEnvItem('web', 'prod', 'waiter');
const resumed = () =>
  sfnMock.commandCalls(SendTaskSuccessCommand).map(({ args: [{ input }] }) => ({
    token: input.taskToken,
    output: JSON.parse(input.output ?? 'null') as unknown,
  }));

describe('lock', () => {
  describe('acquireLock', () => {
    it('takes a free lock with a conditional write naming the holder', async () => {
      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired' });
      expect(lockItem()).toMatchObject({ holder: { S: ours.executionArn } });
      expect(table.mock).toHaveReceivedCommandWith(PutItemCommand, {
        ConditionExpression: 'attribute_not_exists(pk)',
      });
      expect(sfnMock).not.toHaveReceivedCommand(DescribeExecutionCommand);
    });

    it('waits while a RUNNING execution holds it, and leaves the lock alone', async () => {
      // Prepare
      await held(holder);
      running(holder);

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'waiting', holder: holder.executionArn });
      expect(lockItem()).toMatchObject({ holder: { S: holder.executionArn } });
    });

    it('stands down as superseded when a newer request already holds the lock', async () => {
      await held(newer);
      running(newer);

      await expect(acquireLock(deps, where, ours)).resolves.toEqual({
        status: 'superseded',
        by: newer.executionArn,
      });
    });

    it('stands down as superseded when a newer request is parked for the lock', async () => {
      // Prepare
      await held(holder);
      running(holder, newer);
      await parked(newer, 'token-newer');

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'superseded', by: newer.executionArn });
    });

    it('stands down as superseded when the recorded release came from a newer request', async () => {
      // Prepare
      const record: ReleaseRecord = {
        kind: 'release',
        ...live,
        at: '2025-06-03T10:21:00.000Z',
        executionArn: newer.executionArn,
        requestedAt: newer.requestedAt,
        previous: null,
      };
      await appendRelease(table.table, where, record);

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'superseded', by: newer.executionArn });
      expect(lockItem()).toBeUndefined();
    });

    it('is not superseded by a newer waiter that has since died, and takes the lock', async () => {
      await parked(newer, 'token-newer');

      await expect(acquireLock(deps, where, ours)).resolves.toEqual({ status: 'acquired' });
    });

    it('reports acquired to a retried acquire by the holder, even when a newer request waits', async () => {
      // Prepare
      await held(ours);
      running(ours, newer);
      await parked(newer, 'token-newer');

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired' });
    });

    it('clears its own waiter item once it holds the lock', async () => {
      await parked(ours, 'token-ours');

      await held(ours);

      expect(waiterItem()).toBeUndefined();
    });

    it('takes over the lock of a holder that ended, in the same conditional write', async () => {
      // Prepare: the holder is no longer known to Step Functions (default mock).
      await held(holder);

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired' });
      expect(lockItem()).toMatchObject({ holder: { S: ours.executionArn } });
      expect(table.mock).toHaveReceivedCommandWith(PutItemCommand, {
        ConditionExpression: 'holder = :dead',
        ExpressionAttributeValues: { ':dead': { S: holder.executionArn } },
      });
    });

    it('turns a throttled DescribeExecution into TransientAwsError and leaves the lock alone', async () => {
      // Prepare
      await held(holder);
      sfnMock
        .on(DescribeExecutionCommand)
        .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: {} }));

      // Act / Assess
      await expect(acquireLock(deps, where, ours)).rejects.toMatchObject({ name: 'TransientAwsError' });
      expect(lockItem()).toMatchObject({ holder: { S: holder.executionArn } });
    });
  });

  describe('parkWaiter', () => {
    it('parks its task token in the waiter slot and stays parked while the lock is held', async () => {
      // Prepare
      await held(holder);

      // Act
      const outcome = await parked(ours, 'token-ours');

      // Assess
      expect(outcome).toBe('parked');
      expect(waiterItem()).toMatchObject({
        executionArn: { S: ours.executionArn },
        taskToken: { S: 'token-ours' },
      });
      expect(resumed()).toEqual([]);
    });

    it('replaces an older waiter and resumes it as superseded', async () => {
      // Prepare
      await held(holder);
      await parked(older, 'token-older');

      // Act
      await parked(ours, 'token-ours');

      // Assess
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-ours' } });
      expect(resumed()).toEqual([
        { token: 'token-older', output: { status: 'superseded', by: ours.executionArn } },
      ]);
    });

    it('stands down at once when a newer request waits, leaving it parked', async () => {
      // Prepare
      await held(holder);
      await parked(newer, 'token-newer');

      // Act
      const outcome = await parked(ours, 'token-ours');

      // Assess
      expect(outcome).toBe('superseded');
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-newer' } });
      expect(resumed()).toEqual([
        { token: 'token-ours', output: { status: 'superseded', by: newer.executionArn } },
      ]);
    });

    it('wakes itself when the holder let go before the token was parked', async () => {
      // Act: nobody holds the lock any more.
      const outcome = await parked(ours, 'token-ours');

      // Assess
      expect(outcome).toBe('woken');
      expect(waiterItem()).toBeUndefined();
      expect(resumed()).toEqual([{ token: 'token-ours', output: { status: 'woken' } }]);
    });
  });

  describe('releaseLock and wakeWaiter', () => {
    it('frees only its own lock', async () => {
      await held(holder);

      await expect(releaseLock(deps, where, ours.executionArn)).resolves.toBe(false);
      expect(lockItem()).toBeDefined();
      await expect(releaseLock(deps, where, holder.executionArn)).resolves.toBe(true);
      expect(lockItem()).toBeUndefined();
      await expect(releaseLock(deps, where, holder.executionArn)).resolves.toBe(false);
    });

    it('resumes the parked waiter exactly once, however many wake it', async () => {
      // Prepare
      await held(holder);
      await parked(ours, 'token-ours');
      await releaseLock(deps, where, holder.executionArn);

      // Act
      const woken = await Promise.all([wakeWaiter(deps, where), wakeWaiter(deps, where)]);

      // Assess
      expect(woken.sort()).toEqual([false, true]);
      expect(resumed()).toEqual([{ token: 'token-ours', output: { status: 'woken' } }]);
    });

    it('counts a waiter whose wait already timed out as not woken', async () => {
      await held(holder);
      await parked(ours, 'token-ours');
      sfnMock.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'timed out', $metadata: {} }));

      await expect(wakeWaiter(deps, where)).resolves.toBe(false);
      expect(waiterItem()).toBeUndefined();
    });
  });

  describe('cleanUpAfterExecution', () => {
    const statusChange = (executionArn: string, status: string, input = JSON.stringify(where)) => ({
      version: '0',
      id: '315c1398-40ff-a850-213b-158f73e60175',
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: '123456789012',
      time: '2025-06-03T10:30:00Z',
      region: 'eu-west-1',
      resources: [executionArn],
      detail: {
        executionArn,
        stateMachineArn,
        name: executionArn.split(':').pop(),
        status,
        startDate: 1748944800000,
        stopDate: 1748946600000,
        input,
        inputDetails: { included: true },
        output: null,
        outputDetails: null,
        error: null,
        cause: null,
      },
    });

    it('frees the lock of a holder that was aborted and wakes the waiter', async () => {
      // Prepare
      await held(holder);
      await parked(ours, 'token-ours');

      // Act
      const outcome = await cleanUpAfterExecution(
        deps,
        stateMachineArn,
        statusChange(holder.executionArn, 'ABORTED'),
      );

      // Assess
      expect(outcome).toEqual({ action: 'cleaned-up', released: true, withdrawn: false, woken: true });
      expect(lockItem()).toBeUndefined();
      expect(resumed()).toEqual([{ token: 'token-ours', output: { status: 'woken' } }]);
    });

    it("leaves another execution's lock alone when a waiter dies, removing only its waiter item", async () => {
      // Prepare
      await held(holder);
      await parked(ours, 'token-ours');

      // Act
      const outcome = await cleanUpAfterExecution(
        deps,
        stateMachineArn,
        statusChange(ours.executionArn, 'TIMED_OUT'),
      );

      // Assess
      expect(outcome).toEqual({ action: 'cleaned-up', released: false, withdrawn: true, woken: false });
      expect(lockItem()).toMatchObject({ holder: { S: holder.executionArn } });
      expect(waiterItem()).toBeUndefined();
    });

    it.each([
      [
        'a succeeded execution',
        statusChange(executionOf('x'), 'SUCCEEDED'),
        'status SUCCEEDED released its own lock',
      ],
      [
        'another state machine',
        {
          ...statusChange(executionOf('x'), 'FAILED'),
          detail: { ...statusChange(executionOf('x'), 'FAILED').detail, stateMachineArn: 'arn:other' },
        },
        'not an execution of the deploy state machine',
      ],
      [
        'an event without input',
        statusChange(executionOf('x'), 'FAILED', 'null'),
        'the event carries no readable input naming the app/environment',
      ],
      [
        'another event',
        { source: 'aws.states', 'detail-type': 'Step Functions State Machine Updated' },
        'not a Step Functions Execution Status Change event',
      ],
    ])('ignores %s and says why', async (_what, event, why) => {
      await held(holder);

      await expect(cleanUpAfterExecution(deps, stateMachineArn, event)).resolves.toEqual({
        action: 'ignored',
        why,
      });
      expect(lockItem()).toBeDefined();
    });
  });

  it('keys every item of an app/environment in one partition', () => {
    expect(keyOf(appEnvPartition('web', 'prod'), 'lock')).toEqual({
      pk: { S: 'app#web#prod' },
      sk: { S: 'lock' },
    });
  });
});
