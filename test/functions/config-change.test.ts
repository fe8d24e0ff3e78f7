import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  indexConfigChange,
  parseConfigChangeEvent,
  rebuildConfigIndexes,
} from '../../functions/src/repository-index/config-change.ts';
import {
  alarmIndexPartition,
  appEnvKey,
  listIndexEntries,
  writeIndexEntry,
} from '../../functions/src/repository-index/index-table.ts';
import { loadEvent, webConfig } from '../support/aws-fixtures.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/*
 * A config change, as the indexes see it: the event that reports it, the entries it moves, and the
 * reconciler's rebuild from every config.
 */

const changeEvent = loadEvent<{ detail: Record<string, unknown> }>('parameter-store-change.json');
let table: ReturnType<typeof fakeCoordinationTable>;

/** Every entry of an index, as `key: app/env, …`. */
async function entries(index = alarmIndexPartition) {
  return (await listIndexEntries(table.table, index)).map(({ key, appEnvs }) =>
    [key, appEnvs.map(appEnvKey).join(',')].join(': '),
  );
}

beforeEach(() => {
  table = fakeCoordinationTable();
});

afterEach(() => {
  table.mock.reset();
});

describe('parseConfigChangeEvent', () => {
  it.each([
    ['without a name', { operation: 'Update' }],
    ['without an operation', { name: '/gantry/web/prod/config' }],
  ])('ignores a Parameter Store Change %s, saying why', (_, detail) => {
    expect(parseConfigChangeEvent({ ...changeEvent, detail }, '/gantry')).toEqual({
      ignored: 'not a Parameter Store Change event with an operation and a name',
    });
  });

  it('ignores a parameter whose name only begins like a config, saying why', () => {
    const detail = { operation: 'Create', name: '/gantry/web/prod/config-draft' };

    expect(parseConfigChangeEvent({ ...changeEvent, detail }, '/gantry')).toEqual({
      ignored: '/gantry/web/prod/config-draft is not an <app>/<env>/config parameter',
    });
  });

  it('reads a prefix given without its leading slash as the same prefix', () => {
    expect(parseConfigChangeEvent(changeEvent, 'gantry')).toEqual({
      app: 'web',
      env: 'prod',
      operation: 'Update',
    });
  });
});

describe('indexConfigChange', () => {
  it('reads and writes only the entries the app/environment joins or leaves, whatever the index holds', async () => {
    // Prepare: web/prod listed under web-5xx; ten alarms of other app/environments.
    await writeIndexEntry(
      table.table,
      'web-5xx',
      [{ app: 'web', env: 'prod' }],
      'absent',
      alarmIndexPartition,
    );
    for (let i = 0; i < 10; i++) {
      await writeIndexEntry(
        table.table,
        `app-${i}-5xx`,
        [{ app: `app-${i}`, env: 'prod' }],
        'absent',
        alarmIndexPartition,
      );
    }
    table.mock.resetHistory();

    // Act: web/prod's config now lists web-errors instead, and tracks no repository.
    await indexConfigChange(table.table, {
      app: 'web',
      env: 'prod',
      repository: undefined,
      alarms: ['web-errors'],
    });

    // Assess: one read and one write to join web-errors, one each to leave web-5xx.
    expect(table.mock.commandCalls(GetItemCommand)).toHaveLength(2);
    expect(table.mock.commandCalls(PutItemCommand)).toHaveLength(2);
    expect(await entries()).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `app-${i}-5xx: app-${i}/prod`),
      'web-5xx: ',
      'web-errors: web/prod',
    ]);
    expect(await entries({ partition: 'repository-index', keyKind: 'repository' })).toEqual([]);
  });
});

describe('rebuildConfigIndexes', () => {
  it('indexes only <app>/<env>/config parameters of the recursive scan', async () => {
    // Prepare: the scan is recursive (Powertools getMultiple), so it also answers releases, deeper
    // names and names that only begin like a config.
    const config = JSON.stringify({ ...webConfig, rollbackAlarms: ['web-5xx'] });
    const configSource = async () => ({
      'web/prod/config': config,
      'web/prod/release': config,
      'team/web/qa/config': config,
      'web/eu/config-draft': config,
      config,
    });

    // Act
    const { alarms } = await rebuildConfigIndexes({
      table: table.table,
      configSource,
      parameterPrefix: '/gantry',
    });

    // Assess
    expect(alarms).toEqual({ entries: 1, repaired: ['web-5xx'], raced: [] });
    expect(await entries()).toEqual(['web-5xx: web/prod']);
  });

  it('leaves right entries alone, whatever the order the scan or the entry lists their names in', async () => {
    // Prepare: the scan answers web/qa before web/eu; the entry, written by hand, lists them the
    // other way round; old-5xx was seen and nobody names it now.
    const config = JSON.stringify({ ...webConfig, rollbackAlarms: ['web-5xx'] });
    const configSource = async () => ({ 'web/qa/config': config, 'web/eu/config': config });
    table.put({
      pk: { S: 'alarm-index' },
      sk: { S: 'web-5xx' },
      appEnvs: { L: [{ S: 'web/qa' }, { S: 'web/eu' }] },
      version: { N: '3' },
    });
    await writeIndexEntry(table.table, 'old-5xx', [], 'absent', alarmIndexPartition);
    table.mock.resetHistory();

    // Act
    const { alarms } = await rebuildConfigIndexes({
      table: table.table,
      configSource,
      parameterPrefix: '/gantry',
    });

    // Assess
    expect(alarms).toEqual({ entries: 2, repaired: [], raced: [] });
    expect(table.mock.commandCalls(PutItemCommand).map((call) => call.args[0].input.Item?.sk?.S)).toEqual([
      webConfig.repository,
    ]);
  });
});
