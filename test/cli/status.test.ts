import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appEnvPartition,
  keyOf,
  lockSortKey,
  waiterSortKey,
} from '../../functions/src/coordination/table.ts';
import { type ReleaseRecord, recordRelease } from '../../functions/src/release.ts';
import { readAppEnvStatus, statusAfterRecord } from '../../functions/src/status.ts';
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
    table.put({
      ...keyOf(appEnvPartition('web', 'prod'), waiterSortKey),
      executionArn: { S: executionOf('push-web-prod-4') },
      image: { S: older.image },
      requestedAtText: { S: '2025-06-03T11:01:00Z' },
      taskToken: { S: 'token' },
    } as never);

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
    await record(released);
    await record(rolledBack);

    const announced = await statusAfterRecord(table.table, where, rolledBack);

    expect(announced).toEqual(await read());
  });
});
