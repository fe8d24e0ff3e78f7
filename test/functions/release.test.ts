import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appEnvPartition,
  lockSortKey,
  releaseSortKeyPrefix,
  rolloutSortKey,
  sortKeysAfterReleases,
  waiterSortKey,
} from '../../functions/src/coordination/table.ts';
import {
  appendRelease,
  deployedImageOf,
  latestRelease,
  liveReleaseOf,
  type ReleaseRecord,
  readPartitionHead,
  readRelease,
  recordRelease,
  releaseHistory,
  safeJson,
} from '../../functions/src/release.ts';
import { story } from '../support/aws-fixtures.ts';
import { desired, live, older } from '../support/deploy-states.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';
import { throttled, transientWhile } from '../support/throttling.ts';

/*
 * Release records: the history, append-only in the coordination table, and the live release in
 * Parameter Store, what people and the swarm agent read.
 */

const where = { app: 'web', env: 'prod', parameterName: '/gantry/web/prod/release' };
const executionOf = (name: string) =>
  `arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:${name}`;
const deployed = { ...desired, revision: story.taskDefinitionArn };
const recordOf = (overrides: Partial<ReleaseRecord> = {}): ReleaseRecord => ({
  kind: 'release',
  ...deployed,
  at: '2025-06-03T10:19:31.000Z',
  executionArn: executionOf('push-web-prod-1'),
  requestedAt: '2025-06-03T10:15:01Z',
  previous: live,
  ...overrides,
});
/** Standard parameters hold 4 KB (SDK model, @aws-sdk/client-ssm PutParameterRequest `Value`). */
const standardParameterBytes = 4096;

let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
});

afterEach(() => {
  ssm.mock.reset();
  table.mock.reset();
});

const history = () => releaseHistory(table.table, 'web', 'prod', { limit: 100 });
const stores = () => ({ table: table.table, ssm: ssm.client });
const liveValue = () => ssm.parameters.get(where.parameterName)?.value ?? '';

describe('release records', () => {
  describe('deployedImageOf', () => {
    it('keeps what identifies the deployed image and nothing else', () => {
      expect(deployedImageOf(recordOf({ reason: 'hotfix' }))).toEqual(deployed);
    });

    it('leaves out a tag the image never had', () => {
      const { tag: _, ...untagged } = deployed;

      expect(deployedImageOf(untagged)).toStrictEqual(untagged);
    });
  });

  describe('liveReleaseOf', () => {
    it.each([
      ['a release', recordOf()],
      ['a rollback', recordOf({ kind: 'rollback', previous: null })],
    ])('says what runs after %s', (_what, record) => {
      expect(liveReleaseOf(record)).toEqual(deployed);
    });

    it.each([
      ['no record', undefined],
      ['a failed rollback, which left it unknown', recordOf({ kind: 'rollback-failed' })],
    ])('knows nothing live after %s', (_what, record) => {
      expect(liveReleaseOf(record)).toBeNull();
    });
  });

  describe('readRelease', () => {
    it('reads the live release Parameter Store holds', async () => {
      ssm.put(where.parameterName, recordOf());

      await expect(readRelease(ssm.client, where.parameterName)).resolves.toEqual(recordOf());
    });

    it.each([
      ['no parameter', undefined],
      ['a value that is not JSON', '{"kind":'],
      ['JSON null', 'null'],
      ['a JSON list', '[]'],
      ['a value that is no release record', { kind: 'release', image: 'web:latest' }],
    ])('treats %s as no live release, so deploys go on', async (_what, value) => {
      if (value !== undefined) ssm.put(where.parameterName, value);

      await expect(readRelease(ssm.client, where.parameterName)).resolves.toBeUndefined();
    });
  });

  it('reads back a rollback record with its cause and the release it left, which may lack a revision', async () => {
    // Prepare
    const record = recordOf({
      kind: 'rollback',
      ...live,
      previous: older,
      cause: { error: 'RolloutFailed', message: 'too slow', details: { deploymentId: story.deploymentId } },
      rolledBackFrom: desired,
    });
    ssm.put(where.parameterName, record);
    await appendRelease(table.table, where, record);

    // Act / Assess
    await expect(readRelease(ssm.client, where.parameterName)).resolves.toEqual(record);
    await expect(latestRelease(table.table, 'web', 'prod')).resolves.toEqual(record);
  });

  it('reads a record written before revisions were target-neutral, in Parameter Store and in the history', async () => {
    // Prepare: the shape earlier versions wrote, when ECS was the only target.
    const record = recordOf({
      kind: 'rollback',
      ...live,
      previous: older,
      rolledBackFrom: { ...desired, revision: 'x' },
    });
    const { revision, previous: _, rolledBackFrom, ...rest } = record;
    const oldShape = {
      ...rest,
      taskDefinitionArn: revision,
      previous: { ...older, revision: undefined, taskDefinitionArn: older.revision },
      rolledBackFrom: { ...desired, taskDefinitionArn: rolledBackFrom?.revision },
    };
    ssm.put(where.parameterName, oldShape);
    await appendRelease(table.table, where, oldShape as unknown as ReleaseRecord);

    // Act
    const fromParameter = await readRelease(ssm.client, where.parameterName);
    const fromHistory = await latestRelease(table.table, 'web', 'prod');

    // Assess
    expect(fromParameter).toEqual(record);
    expect(fromHistory).toEqual(record);
  });

  it('keeps the revision of a record that also carries the old taskDefinitionArn field', async () => {
    // Prepare: written by a version that kept both while the field was renamed.
    ssm.put(where.parameterName, {
      ...recordOf(),
      taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/old:1',
    });

    // Act / Assess: the target-neutral revision wins; the old field is dropped.
    await expect(readRelease(ssm.client, where.parameterName)).resolves.toEqual(recordOf());
  });

  it('reads one record to know the latest, however long the history', async () => {
    await latestRelease(table.table, 'web', 'prod');

    expect(table.mock).toHaveReceivedCommandWith(QueryCommand, { Limit: 1, ScanIndexForward: false });
  });

  describe('readPartitionHead', () => {
    const put = (sk: string, attributes: Record<string, { S: string }> = {}) =>
      table.put({ pk: { S: appEnvPartition('web', 'prod') }, sk: { S: sk }, ...attributes });

    it('reads the waiter and the newest record in one Query, past the lock, the rollout pointer and older records', async () => {
      // Prepare: every kind of item an app/environment partition holds.
      await appendRelease(table.table, where, recordOf({ at: '2025-06-03T10:00:00.000Z' }));
      const newest = recordOf({
        at: '2025-06-03T10:19:31.000Z',
        executionArn: executionOf('push-web-prod-2'),
      });
      await appendRelease(table.table, where, newest);
      put(lockSortKey, { holder: { S: executionOf('push-web-prod-3') } });
      put(rolloutSortKey, { deploymentId: { S: story.deploymentId } });
      put(waiterSortKey, { executionArn: { S: executionOf('push-web-prod-4') } });
      table.mock.resetHistory();

      // Act
      const head = await readPartitionHead(table.table, 'web', 'prod');

      // Assess
      expect(head.latest).toEqual(newest);
      expect(head.waiter).toMatchObject({ executionArn: { S: executionOf('push-web-prod-4') } });
      expect(table.mock).toHaveReceivedCommandTimes(QueryCommand, 1);
      expect(table.mock).toHaveReceivedCommandWith(QueryCommand, { ConsistentRead: true });
    });

    it('finds no waiter when none is parked, whatever else the partition holds', async () => {
      // Prepare
      await appendRelease(table.table, where, recordOf());
      put(rolloutSortKey, { deploymentId: { S: story.deploymentId } });

      // Act
      const head = await readPartitionHead(table.table, 'web', 'prod');

      // Assess
      expect(head).toEqual({ waiter: undefined, latest: recordOf() });
    });

    it('finds neither in an empty partition', async () => {
      await expect(readPartitionHead(table.table, 'web', 'prod')).resolves.toEqual({
        waiter: undefined,
        latest: undefined,
      });
    });

    it('reads the history itself when an item it does not know sorts above it', async () => {
      // Prepare: items after the history fill the page, so the newest record is not on it.
      const newest = recordOf();
      await appendRelease(table.table, where, newest);
      for (const sk of ['x1', 'x2', 'x3']) put(sk);

      // Act
      const head = await readPartitionHead(table.table, 'web', 'prod');

      // Assess
      expect(head.latest).toEqual(newest);
      expect(table.mock).toHaveReceivedCommandTimes(QueryCommand, 2);
    });

    it('knows every sort key that sorts after the history, and the lock sorts before it', () => {
      // The Query's Limit counts on it: these, then the newest record.
      const above = [lockSortKey, waiterSortKey, rolloutSortKey].filter((sk) => sk > releaseSortKeyPrefix);
      expect(above.sort()).toEqual([...sortKeysAfterReleases].sort());
      expect(lockSortKey < releaseSortKeyPrefix).toBe(true);
    });
  });

  describe('recordRelease', () => {
    it('appends the record to the history, then writes it live and returns the version', async () => {
      // Act
      const version = await recordRelease(stores(), where, recordOf());

      // Assess
      expect(version).toBe(1);
      expect(await history()).toEqual([recordOf()]);
      expect(JSON.parse(liveValue())).toEqual(recordOf());
      expect(ssm.parameters.get(where.parameterName)).toMatchObject({ type: 'String' });
    });

    it('overwrites the live release it replaces, keeping the earlier one in the history', async () => {
      // Prepare
      await recordRelease(stores(), where, recordOf());
      const next = recordOf({ executionArn: executionOf('push-web-prod-2'), at: '2025-06-03T11:00:00.000Z' });

      // Act
      const version = await recordRelease(stores(), where, next);

      // Assess
      expect(version).toBe(2);
      expect(JSON.parse(liveValue())).toEqual(next);
      expect(await history()).toEqual([next, recordOf()]);
    });

    it('does not append twice when a retry records the same outcome again, later', async () => {
      // Prepare
      await recordRelease(stores(), where, recordOf());

      // Act
      await recordRelease(stores(), where, recordOf({ at: '2025-06-03T10:19:45.000Z' }));

      // Assess
      expect(await history()).toHaveLength(1);
    });

    it('appends a second outcome of the same execution when it is of another kind', async () => {
      // Prepare
      await recordRelease(stores(), where, recordOf({ kind: 'rollback' }));
      const failedRollback = recordOf({ kind: 'rollback-failed', at: '2025-06-03T10:25:00.000Z' });

      // Act
      await recordRelease(stores(), where, failedRollback);

      // Assess
      expect((await history()).map((record) => record.kind)).toEqual(['rollback-failed', 'rollback']);
    });

    describe("within a Standard parameter's 4 KB", () => {
      const cause = { error: 'RolloutFailed', message: 'm'.repeat(600), details: { stoppedTasks: 3 } };

      it('writes a record of exactly 4 KB whole', async () => {
        // Prepare
        const overhead = Buffer.byteLength(JSON.stringify(recordOf({ reason: '', cause })));
        const record = recordOf({ reason: 'r'.repeat(standardParameterBytes - overhead), cause });

        // Act
        await recordRelease(stores(), where, record);

        // Assess
        expect(Buffer.byteLength(liveValue())).toBe(standardParameterBytes);
        expect(JSON.parse(liveValue())).toEqual(record);
      });

      it('trims the cause of a larger record to its error and the start of its message, counting bytes', async () => {
        // Prepare: 2 100 two-byte characters fit 4 096 characters but not 4 096 bytes.
        const record = recordOf({ kind: 'rollback', reason: 'é'.repeat(2100), cause });

        // Act
        await recordRelease(stores(), where, record);

        // Assess: the live record loses the forensics; the history keeps them all.
        expect(JSON.parse(liveValue())).toEqual({
          ...record,
          cause: { error: 'RolloutFailed', message: 'm'.repeat(500) },
        });
        expect(await history()).toEqual([record]);
      });

      it('writes a larger record without a cause as it is', async () => {
        const record = recordOf({ reason: 'r'.repeat(standardParameterBytes) });

        await recordRelease(stores(), where, record);

        expect(JSON.parse(liveValue())).toEqual(record);
      });
    });
  });

  describe('releaseHistory', () => {
    it('lists the records of one app/environment, newest first, one page of at most `limit`', async () => {
      // Prepare
      const records = ['10:00', '11:00', '12:00'].map((time, index) =>
        recordOf({ at: `2025-06-03T${time}:00.000Z`, executionArn: executionOf(`push-web-prod-${index}`) }),
      );
      for (const record of records) await appendRelease(table.table, where, record);
      await appendRelease(
        table.table,
        { app: 'web', env: 'staging' },
        recordOf({ at: '2025-06-03T13:00:00.000Z' }),
      );
      table.put({
        pk: { S: appEnvPartition('web', 'prod') },
        sk: { S: 'lock' },
        holder: { S: 'arn:holder' },
      });

      // Act
      const page = await releaseHistory(table.table, 'web', 'prod', { limit: 2 });

      // Assess
      expect(page).toEqual([records[2], records[1]]);
      expect(table.mock).toHaveReceivedCommandWith(QueryCommand, { ConsistentRead: true });
    });

    it('skips items that hold no readable record', async () => {
      // Prepare
      await appendRelease(table.table, where, recordOf());
      const partition = { S: appEnvPartition('web', 'prod') };
      table.put({ pk: partition, sk: { S: 'release#2025-06-03T11:00:00.000Z#a#release' } });
      table.put({
        pk: partition,
        sk: { S: 'release#2025-06-03T12:00:00.000Z#b#release' },
        record: { S: '{' },
      });
      table.put({
        pk: partition,
        sk: { S: 'release#2025-06-03T13:00:00.000Z#c#release' },
        record: { S: JSON.stringify({ kind: 'release' }) },
      });

      // Act / Assess
      await expect(history()).resolves.toEqual([recordOf()]);
    });

    it('is empty for an app/environment never released', async () => {
      await expect(history()).resolves.toEqual([]);
      await expect(latestRelease(table.table, 'web', 'prod')).resolves.toBeUndefined();
    });
  });

  describe('appendRelease', () => {
    it('sorts the item by when it was recorded, then the execution name and the kind', async () => {
      // Act
      await appendRelease(table.table, where, recordOf({ kind: 'rollback', previous: older }));

      // Assess
      expect(table.items()).toEqual([
        {
          pk: { S: 'app#web#prod' },
          sk: { S: 'release#2025-06-03T10:19:31.000Z#push-web-prod-1#rollback' },
          kind: { S: 'rollback' },
          executionArn: { S: executionOf('push-web-prod-1') },
          at: { S: '2025-06-03T10:19:31.000Z' },
          record: { S: JSON.stringify(recordOf({ kind: 'rollback', previous: older })) },
        },
      ]);
    });

    it('never overwrites a record already in the history', async () => {
      // Prepare
      await appendRelease(table.table, where, recordOf({ reason: 'first' }));

      // Act
      await appendRelease(table.table, where, recordOf({ reason: 'second' }));

      // Assess
      expect(await history()).toEqual([recordOf({ reason: 'first' })]);
      expect(table.mock).toHaveReceivedCommandWith(PutItemCommand, {
        ConditionExpression: 'attribute_not_exists(sk)',
      });
    });

    it('fails with TransientAwsError saying it was appending when DynamoDB throttles', async () => {
      table.mock.on(PutItemCommand).rejects(throttled());

      await expect(appendRelease(table.table, where, recordOf())).rejects.toMatchObject(
        transientWhile('appending to the release history'),
      );
    });

    it('fails with TransientAwsError saying it was reading the history when DynamoDB throttles', async () => {
      table.mock.on(QueryCommand).rejects(throttled());

      await expect(history()).rejects.toMatchObject(transientWhile('reading the release history'));
    });
  });

  describe('safeJson', () => {
    it('parses JSON and answers undefined for anything else, or nothing', () => {
      expect(safeJson('{"app":"web"}')).toEqual({ app: 'web' });
      expect([safeJson('{"app":'), safeJson(undefined), safeJson(null)]).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
    });
  });
});
