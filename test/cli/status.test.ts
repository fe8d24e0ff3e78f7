import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appEnvPartition,
  keyOf,
  lockSortKey,
  waiterSortKey,
} from '../../functions/src/coordination/table.ts';
import { TransientAwsError } from '../../functions/src/errors.ts';
import { type ReleaseRecord, readPartitionHead, recordRelease } from '../../functions/src/release.ts';
import {
  appEnvStatus,
  readAppEnvStatus,
  shortDigest,
  statusAfterRecord,
  statusChangedDetailType,
} from '../../functions/src/status.ts';
import { story } from '../support/aws-fixtures.ts';
import { desired, live, older } from '../support/deploy-states.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/* The status of one app/env: what `gantry status` prints and the Release Status Changed event carries. */

const where = { app: 'web', env: 'prod', parameterName: '/gantry/web/prod/release' };
const executionOf = (name: string) =>
  `arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:${name}`;

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

const read = () =>
  readAppEnvStatus({ ssm: ssm.client, table: table.table, parameterPrefix: '/gantry' }, 'web', 'prod');
const record = (value: ReleaseRecord) => recordRelease({ table: table.table, ssm: ssm.client }, where, value);

/** A request waiting for the lock, as WaitForLock parks it. */
const waiterParked = () =>
  table.put({
    ...keyOf(appEnvPartition('web', 'prod'), waiterSortKey),
    executionArn: { S: executionOf('push-web-prod-4') },
    image: { S: older.image },
    requestedAtText: { S: '2025-06-03T11:01:00Z' },
    taskToken: { S: 'token' },
  } as never);

const released: ReleaseRecord = {
  kind: 'release',
  ...live,
  at: '2025-06-03T10:00:00.000Z',
  executionArn: executionOf('push-web-prod-1'),
  previous: older,
};
const rolledBack: ReleaseRecord = {
  kind: 'rollback',
  ...live,
  at: '2025-06-03T10:19:31.000Z',
  executionArn: executionOf('push-web-prod-2'),
  previous: older,
  rolledBackFrom: desired,
  cause: {
    error: 'RolloutFailed',
    message: '2 task(s) of the new deployment stopped (limit 2)',
    details: {
      stoppedTasks: 2,
      stopReasons: ['EssentialContainerExited: Essential container in task exited'],
    },
  },
};

describe('readAppEnvStatus', () => {
  it('says when nothing was ever recorded', async () => {
    const status = await read();

    expect(status).toMatchObject({ live: null, lastAttempt: null, lock: null, waiting: null });
    expect(status.summary).toBe('web/prod has no recorded release');
  });

  it('names the live release by tag and short digest, since when and by which execution', async () => {
    await record(released);

    const status = await read();

    expect(status.live).toEqual({
      tag: 'v1.4.1',
      digest: live.digest,
      shortDigest: live.digest.slice(0, 19),
      image: live.image,
      revision: story.previousTaskDefinitionArn,
      since: released.at,
      byExecution: released.executionArn,
    });
    expect(status.summary).toBe('web/prod is on v1.4.1 since 2025-06-03T10:00:00Z');
  });

  it('says what it was rolled back from and why', async () => {
    await record(released);
    await record(rolledBack);

    const status = await read();

    expect(status.lastAttempt).toMatchObject({
      outcome: 'rolled back',
      rolledBackFrom: { tag: 'v1.4.2' },
      cause: { error: 'RolloutFailed', stoppedTasks: 2 },
    });
    expect(status.summary).toBe(
      'web/prod is on v1.4.1, rolled back from v1.4.2 because 2 tasks stopped (EssentialContainerExited: Essential container in task exited)',
    );
  });

  it('gives the reason of a requested rollback', async () => {
    const { cause: _, ...requested } = rolledBack;
    await record({ ...requested, reason: 'checkout is slow' });

    expect((await read()).summary).toBe(
      'web/prod is on v1.4.1, rolled back from v1.4.2 on request: checkout is slow',
    );
  });

  it('says what runs is unknown after a failed rollback', async () => {
    await record({ ...rolledBack, kind: 'rollback-failed' });

    const status = await read();

    expect(status.live).toBeNull();
    expect(status.summary).toMatch(
      /^web\/prod: a rollback failed because 2 tasks stopped .*; what runs is unknown/,
    );
  });

  it('shows the execution holding the lock and the request waiting for it', async () => {
    await record(released);
    table.put({
      ...keyOf(appEnvPartition('web', 'prod'), lockSortKey),
      holder: { S: executionOf('push-web-prod-3') },
      image: { S: desired.image },
      requestedAtText: { S: '2025-06-03T11:00:00Z' },
      acquiredAt: { S: '2025-06-03T11:00:01.000Z' },
    } as never);
    waiterParked();

    const status = await read();

    expect(status.lock).toEqual({
      holder: executionOf('push-web-prod-3'),
      image: desired.image,
      requestedAt: '2025-06-03T11:00:00Z',
      acquiredAt: '2025-06-03T11:00:01.000Z',
    });
    expect(status.waiting).toEqual({
      executionArn: executionOf('push-web-prod-4'),
      image: older.image,
      requestedAt: '2025-06-03T11:01:00Z',
    });
    expect(JSON.stringify(status)).not.toContain('token');
    expect(status.summary).toContain(
      `; deploying ${desired.image} (push-web-prod-3), ${older.image} waiting`,
    );
  });
});

describe('statusAfterRecord', () => {
  it('is exactly what gantry status reads once the recording execution lets go of the lock', async () => {
    // Prepare: a request waits for the lock the recording execution still holds.
    await record(released);
    await record(rolledBack);
    waiterParked();
    const { waiter } = await readPartitionHead(table.table, 'web', 'prod');

    // Act
    const announced = statusAfterRecord(where, rolledBack, waiter);

    // Assess
    expect(announced.waiting).toMatchObject({ executionArn: executionOf('push-web-prod-4') });
    expect(announced).toEqual(await read());
  });
});

describe('the status people read', () => {
  const nothingHeld = { app: 'web', env: 'prod', lock: undefined, waiter: undefined };
  const withCause = (details: unknown): ReleaseRecord => ({
    ...rolledBack,
    cause: { error: 'RolloutFailed', message: 'the new deployment failed', details },
  });
  const summaryOf = (latest: ReleaseRecord) => appEnvStatus({ ...nothingHeld, live: latest, latest }).summary;

  it('names a release without a tag by its short digest, with no tag at all', () => {
    // Prepare
    const { tag: _, ...untagged } = released;

    // Act
    const status = appEnvStatus({ ...nothingHeld, live: untagged, latest: untagged });

    // Assess
    expect(status.live).not.toHaveProperty('tag');
    expect(status.lastAttempt?.release).not.toHaveProperty('tag');
    expect(status.summary).toBe(`web/prod is on ${live.digest.slice(0, 19)} since 2025-06-03T10:00:00Z`);
  });

  it('keeps a digest of another algorithm whole rather than cutting it as sha256', () => {
    // Act
    const short = shortDigest(`sha512:${'e'.repeat(128)}`);

    // Assess
    expect(short).toBe(`sha512:${'e'.repeat(128)}`);
  });

  it('names the release rolled away from by its short digest when it had no tag', () => {
    // Prepare
    const { tag: _, ...untaggedFrom } = desired;

    // Act
    const status = appEnvStatus({
      ...nothingHeld,
      live: rolledBack,
      latest: { ...rolledBack, rolledBackFrom: untaggedFrom },
    });

    // Assess
    expect(status.lastAttempt?.rolledBackFrom).toStrictEqual({
      digest: desired.digest,
      shortDigest: desired.digest.slice(0, 19),
      image: desired.image,
    });
    expect(status.summary).toMatch(`, rolled back from ${desired.digest.slice(0, 19)} because`);
  });

  it('gives no reason and no cause details a record does not hold', () => {
    // Act
    const status = appEnvStatus({ ...nothingHeld, live: released, latest: withCause(undefined) });

    // Assess
    expect(status.lastAttempt).not.toHaveProperty('reason');
    expect(status.lastAttempt?.cause).toStrictEqual({
      error: 'RolloutFailed',
      message: 'the new deployment failed',
    });
  });

  it('drops cause details of the wrong type', () => {
    // Act
    const status = appEnvStatus({
      ...nothingHeld,
      live: released,
      latest: withCause({ stoppedTasks: '2', exitCodes: 137, stopReasons: 'exited' }),
    });

    // Assess
    expect(status.lastAttempt?.cause).toStrictEqual({
      error: 'RolloutFailed',
      message: 'the new deployment failed',
    });
  });

  it('says why by the error and its message when no task stopped', () => {
    // Act
    const summary = summaryOf(withCause(undefined));

    // Assess
    expect(summary).toBe(
      'web/prod is on v1.4.1, rolled back from v1.4.2 because RolloutFailed: the new deployment failed',
    );
  });

  it('counts one stopped task and its exit code in the singular', () => {
    // Act
    const summary = summaryOf(withCause({ stoppedTasks: 1, exitCodes: [137] }));

    // Assess
    expect(summary).toBe(
      'web/prod is on v1.4.1, rolled back from v1.4.2 because 1 task stopped, exit code 137',
    );
  });

  it('lists the exit codes as numbers and the stop reasons, each set apart', () => {
    // Act
    const status = appEnvStatus({
      ...nothingHeld,
      live: rolledBack,
      latest: withCause({
        stoppedTasks: 2,
        exitCodes: [137, '1'],
        stopReasons: ['OutOfMemoryError', 'exited'],
      }),
    });

    // Assess
    expect(status.lastAttempt?.cause?.exitCodes).toEqual([137, 1]);
    expect(status.summary).toBe(
      'web/prod is on v1.4.1, rolled back from v1.4.2 because 2 tasks stopped, exit codes 137, 1 (OutOfMemoryError; exited)',
    );
  });

  it('says rolled back, and nothing more, when the record names neither what from nor why', () => {
    // Prepare
    const { cause: _, rolledBackFrom: __, ...bare } = rolledBack;

    // Act
    const summary = summaryOf(bare);

    // Assess
    expect(summary).toBe('web/prod is on v1.4.1, rolled back');
  });

  it('says since when, not rolled back, when the live release is not the one the rollback recorded', () => {
    // Act
    const status = appEnvStatus({ ...nothingHeld, live: released, latest: rolledBack });

    // Assess
    expect(status.summary).toBe('web/prod is on v1.4.1 since 2025-06-03T10:00:00Z');
  });

  it('says since when for a live release with no history read', () => {
    // Act
    const status = appEnvStatus({ ...nothingHeld, live: released, latest: undefined });

    // Assess
    expect(status.summary).toBe('web/prod is on v1.4.1 since 2025-06-03T10:00:00Z');
  });

  it('says a rollback failed when Parameter Store says so, even with no history read', () => {
    // Act
    const status = appEnvStatus({
      ...nothingHeld,
      live: { ...rolledBack, kind: 'rollback-failed' },
      latest: undefined,
    });

    // Assess
    expect(status.summary).toBe('web/prod: a rollback failed; what runs is unknown, look at the service');
  });

  it('says a rollback failed when the history says so, whatever Parameter Store last held', () => {
    // Act
    const status = appEnvStatus({
      ...nothingHeld,
      live: released,
      latest: { ...withCause(undefined), kind: 'rollback-failed' },
    });

    // Assess
    expect(status.summary).toBe(
      'web/prod: a rollback failed because RolloutFailed: the new deployment failed; what runs is unknown, look at the service',
    );
  });

  it('shows a lock or waiter item missing fields as empty rather than failing', () => {
    // Act
    const status = appEnvStatus({
      app: 'web',
      env: 'prod',
      live: undefined,
      latest: undefined,
      lock: { holder: { S: executionOf('push-web-prod-3') } },
      waiter: { executionArn: { S: executionOf('push-web-prod-4') } },
    });

    // Assess
    expect(status.lock).toEqual({
      holder: executionOf('push-web-prod-3'),
      image: '',
      requestedAt: '',
      acquiredAt: '',
    });
    expect(status.waiting).toEqual({
      executionArn: executionOf('push-web-prod-4'),
      image: '',
      requestedAt: '',
    });
  });

  it('is announced under the detail-type rules match on', () => {
    // Assess
    expect(statusChangedDetailType).toBe('Release Status Changed');
  });
});

describe('readAppEnvStatus on DynamoDB', () => {
  it('reads the lock and the waiter strongly consistent, so a lock taken a moment ago shows', async () => {
    // Act
    await read();

    // Assess
    const reads = table.mock.commandCalls(GetItemCommand).map((call) => call.args[0].input);
    expect(reads).toHaveLength(2);
    for (const input of reads) expect(input.ConsistentRead).toBe(true);
  });

  it('says what it was reading when DynamoDB throttles', async () => {
    // Prepare
    table.mock
      .on(GetItemCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    // Act
    const reading = read();

    // Assess
    await expect(reading).rejects.toThrow(TransientAwsError);
    await expect(reading).rejects.toThrow(/^reading the (lock|waiter) of web\/prod: ThrottlingException/);
  });
});
