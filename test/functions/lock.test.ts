import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type ServiceInputTypes,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanUpAfterExecution } from '../../functions/src/coordination/execution-ended.ts';
import { appEnvPartition, type Item, keyOf } from '../../functions/src/coordination/table.ts';
import {
  acquireLock,
  type LockClaim,
  type LockDependencies,
  parkWaiter,
  releaseLock,
  runningLockHolder,
  waiterFallbackSeconds,
  wakeWaiter,
  withdrawWaiter,
} from '../../functions/src/lock.ts';
import { appendRelease, type ReleaseRecord } from '../../functions/src/release.ts';
import { story } from '../support/aws-fixtures.ts';
import { live } from '../support/deploy-states.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';
import { throttled, transientWhile } from '../support/throttling.ts';

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
  vi.restoreAllMocks();
  competitors.length = 0;
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

function ended(claim: LockClaim, status: 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'SUCCEEDED') {
  sfnMock.on(DescribeExecutionCommand, { executionArn: claim.executionArn }).resolves({
    executionArn: claim.executionArn,
    stateMachineArn,
    status,
    startDate: new Date(claim.requestedAt),
  });
}

/** The lock item as another request's AcquireLock writes it. */
function lockTakenBy(claim: LockClaim) {
  table.put({
    ...(keyOf(appEnvPartition('web', 'prod'), 'lock') as Item),
    holder: { S: claim.executionArn },
    requestedAt: { N: String(Date.parse(claim.requestedAt)) },
    requestedAtText: { S: claim.requestedAt },
    image: { S: claim.image },
    acquiredAt: { S: '2025-06-03T10:16:00.000Z' },
  });
}

type TableCommand = typeof GetItemCommand | typeof PutItemCommand | typeof DeleteItemCommand;
const competitors: { command: TableCommand; sk: string; act: () => unknown }[] = [];

/**
 * Lets `act` run (another request, a release, a waker) each time a `command` on the item `sk` is
 * about to reach the table: the moment between the code's read and its write.
 */
function beforeReaching(command: TableCommand, sk: string, act: () => unknown) {
  if (competitors.length === 0) {
    const { dynamodb } = table.table;
    const send = dynamodb.send.bind(dynamodb) as (sent: unknown) => Promise<unknown>;
    let competing = false;
    vi.spyOn(dynamodb, 'send').mockImplementation((async (sent: { input: ServiceInputTypes }) => {
      const { Key, Item: written } = sent.input as { Key?: Item; Item?: Item };
      const competitor = competitors.find(
        (c) => sent instanceof c.command && (written ?? Key)?.sk?.S === c.sk,
      );
      if (competitor && !competing) {
        competing = true;
        await competitor.act();
        competing = false;
      }
      return send(sent);
    }) as never);
  }
  competitors.push({ command, sk, act });
}

const lockWrites = () =>
  table.mock.commandCalls(PutItemCommand).filter(({ args: [{ input }] }) => input.Item?.sk?.S === 'lock');

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

    it('takes a free lock in two calls: the write, then one read of the waiter and the newest record', async () => {
      // Prepare: a history and a rollout pointer in the partition, as after earlier deploys.
      await appendRelease(table.table, where, {
        kind: 'release',
        ...live,
        at: '2025-06-03T10:00:00.000Z',
        executionArn: holder.executionArn,
        requestedAt: holder.requestedAt,
        previous: null,
      });
      table.put({
        ...(keyOf(appEnvPartition('web', 'prod'), 'rollout') as Item),
        deploymentId: { S: 'ecs-svc/1' },
        taskToken: { S: 'token-holder' },
      });
      table.mock.resetHistory();

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({
        status: 'acquired',
        latest: expect.objectContaining({ executionArn: holder.executionArn }),
      });
      expect(table.mock.calls().map(({ args: [command] }) => command.constructor.name)).toEqual([
        'PutItemCommand',
        'QueryCommand',
      ]);
    });

    it('returns the record a holder wrote just before letting go, read once the lock was its own', async () => {
      // Prepare: the holder records its release and lets go just before our write.
      const recorded: ReleaseRecord = {
        kind: 'release',
        ...live,
        at: '2025-06-03T10:15:30.000Z',
        executionArn: holder.executionArn,
        requestedAt: holder.requestedAt,
        previous: null,
      };
      await held(holder);
      running(holder);
      beforeReaching(PutItemCommand, 'lock', async () => {
        await appendRelease(table.table, where, recorded);
        await releaseLock(deps, where, holder.executionArn);
      });

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired', latest: recorded });
    });

    it('lets go of a free lock it took and wakes the newer request parked for it', async () => {
      // Prepare: the holder let go; the newer request it kept waiting is about to be woken.
      await held(holder);
      running(newer);
      await parked(newer, 'token-newer');
      await releaseLock(deps, where, holder.executionArn);

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'superseded', by: newer.executionArn });
      expect(lockItem()).toBeUndefined();
      expect(resumed()).toEqual([{ token: 'token-newer', output: { status: 'woken' } }]);
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

    it('stands down on a retried acquire when a newer request waits, letting go of the lock and waking it', async () => {
      // Prepare: the first try took the lock and failed before it could look; a newer request parked.
      await held(ours);
      running(ours, newer);
      await parked(newer, 'token-newer');

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess: never stranded, the lock goes to the newest request.
      expect(outcome).toEqual({ status: 'superseded', by: newer.executionArn });
      expect(lockItem()).toBeUndefined();
      expect(resumed()).toEqual([{ token: 'token-newer', output: { status: 'woken' } }]);
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

    it("leaves another waiter's claim parked when it takes the lock", async () => {
      // Prepare: the holder let go; an older request still waits for its wake-up.
      await held(holder);
      running(older);
      await parked(older, 'token-older');
      await releaseLock(deps, where, holder.executionArn);

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired' });
      expect(waiterItem()).toMatchObject({
        executionArn: { S: older.executionArn },
        taskToken: { S: 'token-older' },
      });
    });

    it('withdraws its own waiter item, still parked, once it takes the lock', async () => {
      // Prepare: parked while the holder ran; the holder let go without waking anyone.
      await held(holder);
      await parked(ours, 'token-ours');
      await releaseLock(deps, where, holder.executionArn);

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired' });
      expect(waiterItem()).toBeUndefined();
      expect(resumed()).toEqual([]);
    });

    describe('with requests made at the same instant', () => {
      const twin = claimOf('twin', ours.requestedAt);

      it('waits for a running holder rather than standing down: neither is newer', async () => {
        // Prepare
        await held(twin);
        running(twin);

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'waiting', holder: twin.executionArn });
      });

      it('takes the lock rather than standing down for a parked waiter', async () => {
        // Prepare
        await held(holder);
        running(twin);
        await parked(twin, 'token-twin');
        await releaseLock(deps, where, holder.executionArn);

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'acquired' });
      });

      it('deploys rather than standing down for the recorded release', async () => {
        // Prepare
        const recorded: ReleaseRecord = {
          kind: 'release',
          ...live,
          at: '2025-06-03T10:15:30.000Z',
          executionArn: twin.executionArn,
          requestedAt: twin.requestedAt,
          previous: null,
        };
        await appendRelease(table.table, where, recorded);

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'acquired', latest: recorded });
      });
    });

    it('is never superseded by a release recorded before requests carried a time', async () => {
      // Prepare: a record as the first versions wrote it, without requestedAt.
      const untimed: ReleaseRecord = {
        kind: 'release',
        ...live,
        at: '2025-06-03T10:21:00.000Z',
        executionArn: newer.executionArn,
        previous: null,
      };
      await appendRelease(table.table, where, untimed);

      // Act
      const outcome = await acquireLock(deps, where, ours);

      // Assess
      expect(outcome).toEqual({ status: 'acquired', latest: untimed });
    });

    it.each(['FAILED', 'TIMED_OUT', 'ABORTED', 'SUCCEEDED'] as const)(
      'takes over the lock of a holder whose execution is %s',
      async (status) => {
        // Prepare
        await held(holder);
        ended(holder, status);

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'acquired' });
        expect(lockItem()).toMatchObject({ holder: { S: ours.executionArn } });
      },
    );

    it('reads the lock, the waiter and the history with strongly consistent reads', async () => {
      // A just-written lock must be seen: an eventually consistent read may return the item as it
      // was before the last write (DynamoDB developer guide, "Read consistency").
      await held(holder);
      running(holder);

      await acquireLock(deps, where, ours);

      expect(
        table.mock.commandCalls(GetItemCommand).map(({ args: [{ input }] }) => input.ConsistentRead),
      ).toEqual([true]);
      expect(
        table.mock.commandCalls(QueryCommand).map(({ args: [{ input }] }) => input.ConsistentRead),
      ).toEqual([true, true]);
    });

    describe('when its conditional write fails', () => {
      it('takes the lock when the ended holder it meant to replace let go in between', async () => {
        // Prepare: the holder ended; its release lands between our read and our takeover write.
        await held(holder);
        table.mock.resetHistory();
        let writes = 0;
        beforeReaching(PutItemCommand, 'lock', () =>
          ++writes === 2 ? releaseLock(deps, where, holder.executionArn) : undefined,
        );

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'acquired' });
        expect(lockItem()).toMatchObject({ holder: { S: ours.executionArn } });
        expect(lockWrites().map(({ args: [{ input }] }) => input.ConditionExpression)).toEqual([
          'attribute_not_exists(pk)',
          'holder = :dead',
          'attribute_not_exists(pk)',
        ]);
      });

      it.each([
        // As if it had held the lock before we looked.
        ['stands down for a newer request', newer, { status: 'superseded', by: newer.executionArn }],
        ['waits for an older request', holder, { status: 'waiting', holder: holder.executionArn }],
      ])('%s that took the lock in between and is running', async (_what, other, expected) => {
        // Prepare
        running(other);
        beforeReaching(PutItemCommand, 'lock', () => lockTakenBy(other));

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual(expected);
        expect(lockItem()).toMatchObject({ holder: { S: other.executionArn } });
      });

      it('reports acquired when its own earlier attempt took the lock in between', async () => {
        // Prepare: a retried AcquireLock whose first try's write landed late.
        beforeReaching(PutItemCommand, 'lock', () => lockTakenBy(ours));

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'acquired' });
        expect(lockWrites()).toHaveLength(1);
      });

      it('gives up after three attempts, naming the last holder it saw, when ended holders keep taking it', async () => {
        // Prepare: before each of our writes, another request takes the lock and ends.
        let taken = 0;
        beforeReaching(PutItemCommand, 'lock', () =>
          lockTakenBy(claimOf(`ended-${++taken}`, older.requestedAt)),
        );

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'waiting', holder: executionOf('ended-3') });
        expect(lockWrites()).toHaveLength(3);
      });

      it('gives up after three attempts, naming no holder, when the lock keeps changing hands', async () => {
        // Prepare: another request takes the lock before each of our writes and lets go before each read.
        const other = claimOf('other', older.requestedAt);
        beforeReaching(PutItemCommand, 'lock', () => lockTakenBy(other));
        beforeReaching(GetItemCommand, 'lock', () => releaseLock(deps, where, other.executionArn));

        // Act
        const outcome = await acquireLock(deps, where, ours);

        // Assess
        expect(outcome).toEqual({ status: 'waiting', holder: 'unknown' });
        expect(lockWrites()).toHaveLength(3);
      });
    });

    it('turns a throttled DescribeExecution into TransientAwsError and leaves the lock alone', async () => {
      // Prepare
      await held(holder);
      sfnMock
        .on(DescribeExecutionCommand)
        .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: {} }));

      // Act / Assess
      await expect(acquireLock(deps, where, ours)).rejects.toMatchObject({
        name: 'TransientAwsError',
        message: 'checking the lock holder: ThrottlingException: slow down',
      });
      expect(lockItem()).toMatchObject({ holder: { S: holder.executionArn } });
    });
  });

  describe('runningLockHolder', () => {
    it('names the execution holding the lock while it runs', async () => {
      // Prepare
      lockTakenBy(holder);
      running(holder);

      // Act / Assess
      await expect(runningLockHolder(deps, where)).resolves.toBe(holder.executionArn);
    });

    it('names nobody when the holder ended without letting go', async () => {
      // Prepare: the holder is no longer known to Step Functions (default mock).
      lockTakenBy(holder);

      // Act / Assess
      await expect(runningLockHolder(deps, where)).resolves.toBeUndefined();
    });

    it('names nobody, and asks Step Functions nothing, when the lock is free', async () => {
      // Act / Assess
      await expect(runningLockHolder(deps, where)).resolves.toBeUndefined();
      expect(sfnMock).not.toHaveReceivedCommand(DescribeExecutionCommand);
    });
  });

  describe('waiterFallbackSeconds', () => {
    it("outlasts a holder's rollout and rollback together, so a live holder is never polled", () => {
      expect(waiterFallbackSeconds({ timeoutSeconds: 900 })).toBe(2 * 900 + 600);
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

    it.each([
      ['a newer request', newer],
      // Neither is newer, so neither may push the other out.
      ['a request made at the same instant', claimOf('twin', ours.requestedAt)],
    ])('stands down at once when %s waits, leaving it parked', async (_who, other) => {
      // Prepare
      await held(holder);
      await parked(other, 'token-other');

      // Act
      const outcome = await parked(ours, 'token-ours');

      // Assess
      expect(outcome).toBe('superseded');
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-other' } });
      expect(resumed()).toEqual([
        { token: 'token-ours', output: { status: 'superseded', by: other.executionArn } },
      ]);
    });

    it('keeps its token a day past its wait, then lets it expire', async () => {
      // Prepare
      await held(holder);

      // Act
      await parked(ours, 'token-ours');

      // Assess: TTL in epoch seconds; DynamoDB deletes expired items only eventually.
      const parkedAt = Date.parse('2025-06-03T10:16:00Z') / 1000;
      expect(waiterItem()).toMatchObject({ expiresAt: { N: String(parkedAt + 2400 + 24 * 3600) } });
    });

    it('keeps its slot and supersedes nobody when its parking is retried', async () => {
      // Prepare
      await held(holder);
      await parked(ours, 'token-ours');

      // Act
      const outcome = await parked(ours, 'token-ours');

      // Assess
      expect(outcome).toBe('parked');
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-ours' } });
      expect(resumed()).toEqual([]);
    });

    it('says a newer request superseded it when that one left the slot before it could look', async () => {
      // Prepare: the newer waiter is woken (and its item taken) between our refused write and our read.
      await held(holder);
      await parked(newer, 'token-newer');
      beforeReaching(GetItemCommand, 'waiter', () => wakeWaiter(deps, where));

      // Act
      const outcome = await parked(ours, 'token-ours');

      // Assess
      expect(outcome).toBe('superseded');
      expect(resumed()).toContainEqual({
        token: 'token-ours',
        output: { status: 'superseded', by: 'a newer request' },
      });
    });

    it('leaves a newer waiter that replaced it asleep when it finds the lock free', async () => {
      // Prepare: a newer request parks between our write and our own wake-up; it wakes itself.
      beforeReaching(DeleteItemCommand, 'waiter', () =>
        table.put({
          ...(keyOf(appEnvPartition('web', 'prod'), 'waiter') as Item),
          executionArn: { S: newer.executionArn },
          requestedAt: { N: String(Date.parse(newer.requestedAt)) },
          taskToken: { S: 'token-newer' },
        }),
      );

      // Act
      const outcome = await parked(ours, 'token-ours');

      // Assess
      expect(outcome).toBe('parked');
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-newer' } });
      expect(resumed()).toEqual([]);
    });

    it('fails with TransientAwsError naming the step, and resumes nobody, when DynamoDB throttles', async () => {
      // Prepare
      await held(holder);
      await parked(older, 'token-older');
      table.mock.on(PutItemCommand).rejects(throttled());

      // Act / Assess
      await expect(parked(ours, 'token-ours')).rejects.toMatchObject(transientWhile('parking the waiter'));
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-older' } });
      expect(resumed()).toEqual([]);
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
    it('wakes nobody when nobody waits', async () => {
      await expect(wakeWaiter(deps, where)).resolves.toBe(false);
      expect(resumed()).toEqual([]);
    });

    it('removes only its own waiter item', async () => {
      // Prepare
      await held(holder);
      await parked(ours, 'token-ours');

      // Act / Assess
      await expect(withdrawWaiter(table.table, where, older.executionArn)).resolves.toBe(false);
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-ours' } });
      await expect(withdrawWaiter(table.table, where, ours.executionArn)).resolves.toBe(true);
      expect(waiterItem()).toBeUndefined();
    });

    it.each([
      ['releasing the lock', DeleteItemCommand, () => releaseLock(deps, where, holder.executionArn)],
      ['claiming the waiter', DeleteItemCommand, () => wakeWaiter(deps, where)],
      [
        'withdrawing the waiter',
        DeleteItemCommand,
        () => withdrawWaiter(table.table, where, ours.executionArn),
      ],
      [
        'reading the lock',
        GetItemCommand,
        () => {
          lockTakenBy(holder);
          return acquireLock(deps, where, ours);
        },
      ],
      ['reading the waiter and the newest release', QueryCommand, () => acquireLock(deps, where, ours)],
      ['taking the lock', PutItemCommand, () => acquireLock(deps, where, ours)],
    ] as const)(
      'fails with TransientAwsError saying it was %s when DynamoDB throttles',
      async (doing, command, act) => {
        // Prepare
        table.mock.on(command as typeof GetItemCommand).rejects(throttled());

        // Act / Assess
        await expect(act()).rejects.toMatchObject(transientWhile(doing));
      },
    );
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

    it.each(['FAILED', 'TIMED_OUT', 'ABORTED'])(
      'frees the lock of a holder that %s and wakes the waiter',
      async (status) => {
        // Prepare
        await held(holder);
        await parked(ours, 'token-ours');

        // Act
        const outcome = await cleanUpAfterExecution(
          deps,
          stateMachineArn,
          statusChange(holder.executionArn, status),
        );

        // Assess
        expect(outcome).toEqual({ action: 'cleaned-up', released: true, withdrawn: false, woken: true });
        expect(lockItem()).toBeUndefined();
        expect(resumed()).toEqual([{ token: 'token-ours', output: { status: 'woken' } }]);
      },
    );

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

    it('leaves the parked waiter asleep when the execution that died held nothing', async () => {
      // Prepare
      await held(holder);
      await parked(ours, 'token-ours');

      // Act
      const outcome = await cleanUpAfterExecution(
        deps,
        stateMachineArn,
        statusChange(older.executionArn, 'FAILED'),
      );

      // Assess
      expect(outcome).toEqual({ action: 'cleaned-up', released: false, withdrawn: false, woken: false });
      expect(lockItem()).toMatchObject({ holder: { S: holder.executionArn } });
      expect(waiterItem()).toMatchObject({ taskToken: { S: 'token-ours' } });
      expect(resumed()).toEqual([]);
    });

    const onlyDeadOnes = 'only a failed, timed-out or aborted execution can leave its lock behind';
    const unreadableInput = 'the event carries no readable input naming the app/environment';
    /** A FAILED event whose detail lacks `field`. */
    const without = (field: 'input' | 'executionArn') => {
      const event = statusChange(executionOf('x'), 'FAILED');
      const { [field]: _, ...detail } = event.detail;
      return { ...event, detail };
    };
    it.each([
      [
        'a succeeded execution',
        statusChange(executionOf('x'), 'SUCCEEDED'),
        `status SUCCEEDED: ${onlyDeadOnes}`,
      ],
      ['a running execution', statusChange(executionOf('x'), 'RUNNING'), `status RUNNING: ${onlyDeadOnes}`],
      [
        'an event of another source',
        { ...statusChange(executionOf('x'), 'FAILED'), source: 'gantry' },
        'not a Step Functions Execution Status Change event',
      ],
      [
        'an event whose input is not JSON',
        statusChange(executionOf('x'), 'FAILED', '{"app":'),
        unreadableInput,
      ],
      [
        'an event whose input names no environment',
        statusChange(executionOf('x'), 'FAILED', '{"app":"web"}'),
        unreadableInput,
      ],
      ['an event without an input field', without('input'), unreadableInput],
      [
        'an event whose detail names no execution',
        without('executionArn'),
        'not a Step Functions Execution Status Change event',
      ],
      [
        'another state machine',
        {
          ...statusChange(executionOf('x'), 'FAILED'),
          detail: { ...statusChange(executionOf('x'), 'FAILED').detail, stateMachineArn: 'arn:other' },
        },
        'not an execution of the deploy state machine',
      ],
      ['an event without input', statusChange(executionOf('x'), 'FAILED', 'null'), unreadableInput],
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
});
