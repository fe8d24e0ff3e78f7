import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitPartition, waitSortKey } from '../../functions/src/coordination/table.ts';
import {
  failureCause,
  type ParkedWait,
  parkedWaitSchema,
  readRolloutWait,
  registerRolloutWait,
  type SettledVerdict,
  settleRollout,
  type WaitDependencies,
  withdrawRolloutWait,
} from '../../functions/src/coordination/waits.ts';
import * as z from '../../functions/src/zod.ts';
import { story } from '../support/aws-fixtures.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';
import { throttled, transientWhile } from '../support/throttling.ts';

/*
 * Parked rollout waits, whatever the target: the task token kept against the deployment it waits
 * on, and resumed exactly once with the verdict.
 */

const deploymentId = 'deployment-7';
const wait: ParkedWait = { taskToken: 'token-rollout', deploymentId, timeoutSeconds: 900 };
const now = new Date('2025-06-03T10:16:00Z');
const completed: SettledVerdict = { outcome: 'completed', deploymentId };
const failed: SettledVerdict = {
  outcome: 'failed',
  error: 'RolloutFailed',
  message: '2 task(s) of the new deployment stopped (limit 2)',
  deploymentId,
  stoppedTasks: [{ taskArn: 'task-1' }, { taskArn: 'task-2' }],
};
/** The record a target keeps beside the token: here a made-up one, to show details survive. */
const targetWaitSchema = z.extend(parkedWaitSchema, { service: z.string() });

const sfnMock = mockClient(SFNClient);
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: WaitDependencies;

beforeEach(() => {
  table = fakeCoordinationTable();
  deps = { table: table.table, sfn: new SFNClient({ region: story.region }), now: () => now };
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
});

afterEach(() => {
  table.mock.reset();
  sfnMock.reset();
});

const parkedItem = () => table.item(waitPartition(deploymentId), waitSortKey);
const epochSeconds = (date: Date) => date.getTime() / 1000;

describe('coordination waits', () => {
  describe('registerRolloutWait', () => {
    it('parks the token and its details under the deployment before it looks, and keeps waiting', async () => {
      // Prepare: what the look sees tells whether an event arriving meanwhile would find the token.
      let parkedWhileLooking: unknown;

      // Act
      const verdict = await registerRolloutWait(deps, { ...wait, service: 'web' }, async () => {
        parkedWhileLooking = parkedItem();
        return { outcome: 'pending' as const };
      });

      // Assess
      expect(verdict).toEqual({ outcome: 'pending' });
      expect(parkedWhileLooking).toBeDefined();
      expect(parkedItem()).toEqual({
        pk: { S: `wait#${deploymentId}` },
        sk: { S: 'wait' },
        taskToken: { S: 'token-rollout' },
        wait: { S: JSON.stringify({ deploymentId, timeoutSeconds: 900, service: 'web' }) },
        // A day past the wait's timeout, in epoch seconds: an orphan does not linger for ever.
        expiresAt: { N: String(epochSeconds(now) + 900 + 24 * 3600) },
      });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it('lets a wait without a timeout expire a day after it was parked', async () => {
      await registerRolloutWait(deps, { taskToken: 'token-rollout', deploymentId }, async () => ({
        outcome: 'pending' as const,
      }));

      expect(parkedItem()).toMatchObject({ expiresAt: { N: String(epochSeconds(now) + 24 * 3600) } });
    });

    it('resumes the execution at once when the deployment already completed', async () => {
      // Act
      const verdict = await registerRolloutWait(deps, wait, async () => completed);

      // Assess
      expect(verdict).toEqual(completed);
      expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskSuccessCommand, {
        taskToken: 'token-rollout',
        output: JSON.stringify({ rolloutState: 'COMPLETED', deploymentId }),
      });
      expect(parkedItem()).toBeUndefined();
    });

    it('fails the execution at once when the deployment already failed', async () => {
      // Act
      const verdict = await registerRolloutWait(deps, wait, async () => failed);

      // Assess
      expect(verdict).toEqual(failed);
      expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskFailureCommand, {
        taskToken: 'token-rollout',
        error: 'RolloutFailed',
        // What the state machine's rollback reads: the verdict's details as JSON.
        cause: JSON.stringify({
          message: '2 task(s) of the new deployment stopped (limit 2)',
          deploymentId,
          stoppedTasks: [{ taskArn: 'task-1' }, { taskArn: 'task-2' }],
        }),
      });
      expect(parkedItem()).toBeUndefined();
    });
  });

  describe('readRolloutWait', () => {
    it('reads the token with the details its target parked, with a strongly consistent read', async () => {
      // Prepare
      await registerRolloutWait(deps, { ...wait, service: 'web' }, async () => ({
        outcome: 'pending' as const,
      }));

      // Act
      const read = await readRolloutWait(deps, deploymentId, targetWaitSchema);

      // Assess: an event right after the park must see it (DynamoDB developer guide, "Read consistency").
      expect(read).toEqual({ ...wait, service: 'web' });
      expect(table.mock).toHaveReceivedCommandWith(GetItemCommand, { ConsistentRead: true });
    });

    it('finds nothing when no execution waits on the deployment', async () => {
      await expect(readRolloutWait(deps, deploymentId, targetWaitSchema)).resolves.toBeUndefined();
    });

    it.each([
      ['no token', { wait: { S: JSON.stringify({ deploymentId, service: 'web' }) } }],
      ['no details', { taskToken: { S: 'token-rollout' } }],
      ['details that are not JSON', { taskToken: { S: 'token-rollout' }, wait: { S: '{deploymentId' } }],
      ['details that are JSON null', { taskToken: { S: 'token-rollout' }, wait: { S: 'null' } }],
      [
        'details that are a JSON string',
        { taskToken: { S: 'token-rollout' }, wait: { S: '"deployment-7"' } },
      ],
      [
        'details its target cannot read',
        { taskToken: { S: 'token-rollout' }, wait: { S: JSON.stringify({ deploymentId }) } },
      ],
    ])('treats an item with %s as no wait at all', async (_what, attributes) => {
      // Prepare: a hand-edited or foreign item must not crash the event handler.
      table.put({ pk: { S: waitPartition(deploymentId) }, sk: { S: waitSortKey }, ...attributes });

      // Act / Assess
      await expect(readRolloutWait(deps, deploymentId, targetWaitSchema)).resolves.toBeUndefined();
    });
  });

  describe('withdrawRolloutWait', () => {
    it('removes the parked token without resuming anyone', async () => {
      // Prepare
      await registerRolloutWait(deps, wait, async () => ({ outcome: 'pending' as const }));

      // Act
      await withdrawRolloutWait(deps, deploymentId);

      // Assess
      expect(parkedItem()).toBeUndefined();
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });
  });

  describe('settleRollout', () => {
    beforeEach(async () => {
      await registerRolloutWait(deps, wait, async () => ({ outcome: 'pending' as const }));
    });

    it('resumes the execution exactly once when two resumers race', async () => {
      // Act
      const settled = await Promise.all([
        settleRollout(deps, wait, completed),
        settleRollout(deps, wait, completed),
      ]);

      // Assess
      expect(settled.sort()).toEqual([false, true]);
      expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    });

    it('leaves a wait parked with another token alone', async () => {
      // Act
      const settled = await settleRollout(deps, { ...wait, taskToken: 'token-of-an-earlier-try' }, completed);

      // Assess
      expect(settled).toBe(false);
      expect(parkedItem()).toMatchObject({ taskToken: { S: 'token-rollout' } });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it.each([
      ['its task timed out', new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} })],
      ['its execution ended', new TaskDoesNotExist({ message: 'Task does not exist', $metadata: {} })],
    ])('reports not resumed, and keeps no token, when %s', async (_why, answer) => {
      // Prepare
      sfnMock.on(SendTaskFailureCommand).rejects(answer);

      // Act
      const settled = await settleRollout(deps, wait, failed);

      // Assess
      expect(settled).toBe(false);
      expect(parkedItem()).toBeUndefined();
    });

    it.each([
      ['resuming the execution', SendTaskSuccessCommand, completed],
      ['failing the execution', SendTaskFailureCommand, failed],
    ] as const)(
      'parks the very same token again when %s fails transiently, so a redelivery can resume it',
      async (doing, command, verdict) => {
        // Prepare
        const parkedBefore = parkedItem();
        sfnMock.on(command as typeof SendTaskSuccessCommand).rejects(throttled());

        // Act / Assess
        await expect(settleRollout(deps, wait, verdict)).rejects.toMatchObject(transientWhile(doing));
        expect(parkedItem()).toEqual(parkedBefore);
      },
    );

    it.each([
      ['claiming the parked wait', DeleteItemCommand, () => settleRollout(deps, wait, completed)],
      [
        'reading the parked wait',
        GetItemCommand,
        () => readRolloutWait(deps, deploymentId, targetWaitSchema),
      ],
      ['withdrawing the parked wait', DeleteItemCommand, () => withdrawRolloutWait(deps, deploymentId)],
      [
        'parking the task token',
        PutItemCommand,
        () => registerRolloutWait(deps, wait, async () => ({ outcome: 'pending' as const })),
      ],
    ] as const)(
      'fails with TransientAwsError saying it was %s when DynamoDB throttles',
      async (doing, command, act) => {
        // Prepare
        table.mock.on(command as typeof GetItemCommand).rejects(throttled());

        // Act / Assess
        await expect(act()).rejects.toMatchObject(transientWhile(doing));
        expect(sfnMock).not.toHaveReceivedAnyCommand();
      },
    );
  });

  describe('failureCause', () => {
    /** Step Functions' limit on SendTaskFailure's `cause`. */
    const limit = 32_768;
    const stoppedTasks = Array.from({ length: 8 }, (_, index) => ({
      taskArn: `task-${index}`,
      stopCode: 'X',
    }));
    const verdictOf = (message: string, extra: Record<string, unknown> = {}) =>
      ({ outcome: 'failed', error: 'RolloutFailed', message, deploymentId, ...extra }) as const;

    it('keeps a cause of exactly the limit whole', () => {
      // Prepare: details whose JSON is exactly 32 768 characters.
      const extra = { stoppedTasks, event: { eventName: 'SERVICE_DEPLOYMENT_FAILED' } };
      const overhead = JSON.stringify({ message: '', deploymentId, ...extra }).length;
      const verdict = verdictOf('m'.repeat(limit - overhead), extra);

      // Act
      const cause = failureCause(verdict);

      // Assess
      expect(cause).toHaveLength(limit);
      expect(JSON.parse(cause)).toEqual({ message: verdict.message, deploymentId, ...extra });
    });

    it('drops the event and halves the stopped tasks until the cause fits', () => {
      // Prepare: a message that leaves room for about two stopped tasks.
      const room = JSON.stringify(stoppedTasks.slice(0, 2)).length + 10;
      const overhead = JSON.stringify({ message: '', deploymentId, stoppedTasks: [] }).length;
      const verdict = verdictOf('m'.repeat(limit - overhead - room), {
        stoppedTasks,
        event: { big: 'e'.repeat(100) },
      });

      // Act
      const cause = JSON.parse(failureCause(verdict)) as Record<string, unknown>;

      // Assess: 8 → 4 → 2 tasks, the first ones kept.
      expect(cause).toEqual({
        message: verdict.message,
        deploymentId,
        stoppedTasks: stoppedTasks.slice(0, 2),
      });
    });

    it("keeps only the message's first 1 000 characters when nothing else makes it fit", () => {
      // Prepare
      const verdict = verdictOf(`${'m'.repeat(1000)}${'x'.repeat(limit)}`, { stoppedTasks });

      // Act
      const cause = failureCause(verdict);

      // Assess
      expect(JSON.parse(cause)).toEqual({ message: 'm'.repeat(1000) });
    });

    it('drops the event first, keeping every other detail, when a verdict without stopped tasks is too long', () => {
      const verdict = verdictOf('too slow', { ecsRolledBack: false, event: { big: 'e'.repeat(limit) } });

      expect(JSON.parse(failureCause(verdict))).toEqual({
        message: 'too slow',
        deploymentId,
        ecsRolledBack: false,
      });
    });

    it('keeps only the message when a message without stopped tasks is too long', () => {
      const verdict = verdictOf('m'.repeat(limit));

      expect(JSON.parse(failureCause(verdict))).toEqual({ message: 'm'.repeat(1000) });
    });
  });
});
