import { GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  alarmIndexPartition,
  appEnvKey,
  listIndexEntries,
  readIndexEntry,
  repositoryIndexPartition,
  updateIndexEntry,
  writeIndexEntry,
} from '../../functions/src/repository-index/index-table.ts';
import { type JsonObject, Params } from '../../sandbox/emulator/protocol.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';
import { throttled, transientWhile } from '../support/throttling.ts';

/*
 * The config indexes' items in the coordination table: their layout (docs/architecture.md, the
 * coordination table), their reads, and their conditional read-modify-write updates.
 */

let table: ReturnType<typeof fakeCoordinationTable>;
const web = { app: 'web', env: 'prod' };
const api = { app: 'api', env: 'prod' };

/** What the emulated table holds under `pk`/`sk`, attribute by attribute. */
const stored = (pk: string, sk: string) => table.item(pk, sk);

beforeEach(() => {
  table = fakeCoordinationTable();
});

afterEach(() => {
  table.mock.reset();
});

describe('index entries', () => {
  it('stores an entry as the coordination table documents it: its partition, its key, appEnvs and version', async () => {
    // Act
    await writeIndexEntry(table.table, 'web', [web, api, web], 'absent', repositoryIndexPartition);
    await writeIndexEntry(table.table, 'web-prod-5xx', [web], 'absent', alarmIndexPartition);

    // Assess: names once each, sorted.
    expect(stored('repository-index', 'web')).toEqual({
      pk: { S: 'repository-index' },
      sk: { S: 'web' },
      appEnvs: { L: [{ S: 'api/prod' }, { S: 'web/prod' }] },
      version: { N: '1' },
    });
    expect(stored('alarm-index', 'web-prod-5xx')).toEqual(
      expect.objectContaining({ appEnvs: { L: [{ S: 'web/prod' }] }, version: { N: '1' } }),
    );
  });

  it('keeps the repository and the alarm index apart when a repository and an alarm share a name', async () => {
    // Prepare
    await writeIndexEntry(table.table, 'web', [web], 'absent');
    await writeIndexEntry(table.table, 'web', [api], 'absent', alarmIndexPartition);

    // Act
    const repository = await readIndexEntry(table.table, 'web');
    const alarm = await readIndexEntry(table.table, 'web', { index: alarmIndexPartition });

    // Assess
    expect(repository?.appEnvs).toEqual([web]);
    expect(alarm?.appEnvs).toEqual([api]);
  });

  it('counts the versions of an entry up, one a write', async () => {
    // Prepare
    await writeIndexEntry(table.table, 'web', [web], 'absent');

    // Act
    await updateIndexEntry(table.table, 'web', { add: api });
    await updateIndexEntry(table.table, 'web', { remove: web });

    // Assess
    expect(await readIndexEntry(table.table, 'web')).toEqual({ key: 'web', appEnvs: [api], version: 3 });
  });

  it('refuses a write based on an entry someone changed since it was read, and keeps theirs', async () => {
    // Prepare: read at version 1, then someone else writes version 2.
    await writeIndexEntry(table.table, 'web', [web], 'absent');
    const read = await readIndexEntry(table.table, 'web');
    await writeIndexEntry(table.table, 'web', [web, api], { version: 1 });

    // Act
    const written = await writeIndexEntry(table.table, 'web', [], read ?? 'absent');
    const again = await writeIndexEntry(table.table, 'web', [api], 'absent');

    // Assess
    expect(written).toBe(false);
    expect(again).toBe(false);
    expect(await readIndexEntry(table.table, 'web')).toEqual({ key: 'web', appEnvs: [api, web], version: 2 });
  });

  it('skips what is not an app/env name in an entry written by hand, and reads the rest', async () => {
    // Prepare: an operator's edit left names of one, three and empty segments, and a number.
    table.put({
      pk: { S: 'repository-index' },
      sk: { S: 'web' },
      appEnvs: {
        L: [
          { S: 'web' },
          { S: 'web/prod/extra' },
          { S: '/prod' },
          { S: 'web/' },
          { N: '7' },
          { S: 'api/prod' },
        ],
      },
      version: { N: '4' },
    });

    // Act
    const entry = await readIndexEntry(table.table, 'web');

    // Assess
    expect(entry).toEqual({ key: 'web', appEnvs: [api], version: 4 });
  });

  it.each([
    ['without a list of names or a version', {}],
    ['whose names are a string set', { appEnvs: { SS: ['web/prod'] } }],
  ])('reads an entry %s as naming nobody', async (_, attributes) => {
    // Prepare
    table.put({ pk: { S: 'alarm-index' }, sk: { S: 'web-5xx' }, ...attributes });

    // Act
    const entry = await readIndexEntry(table.table, 'web-5xx', { index: alarmIndexPartition });
    const listed = await listIndexEntries(table.table, alarmIndexPartition);

    // Assess
    expect(entry).toEqual({ key: 'web-5xx', appEnvs: [], version: 0 });
    expect(listed).toEqual([entry]);
  });

  it('lists every entry across Query pages', async () => {
    // Prepare: Query answers at most 1 MB a page ("Paginating table query results", DynamoDB
    // developer guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html);
    // pages of two items stand for it.
    for (const key of ['a', 'b', 'c', 'd', 'e']) await writeIndexEntry(table.table, key, [web], 'absent');
    const query = table.state.service().operations.Query;
    table.mock
      .on(QueryCommand)
      .callsFake(async (input: object) =>
        query?.handle(
          new Params(structuredClone({ ...input, Limit: 2 }) as JsonObject, 'Query', 'ValidationException'),
        ),
      );

    // Act
    const entries = await listIndexEntries(table.table);

    // Assess
    expect(entries.map(({ key }) => key)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const starts = table.mock
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input.ExclusiveStartKey?.sk?.S);
    expect(starts).toEqual([undefined, 'b', 'd']);
  });

  it('reads eventually consistent to route an event, and strongly consistent to list or change an entry', async () => {
    // Prepare: an eventually consistent read of an item up to 4 KB costs half a read unit, a
    // strongly consistent one a whole unit ("DynamoDB read and write operations", DynamoDB developer
    // guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
    await writeIndexEntry(table.table, 'web', [web], 'absent');
    table.mock.resetHistory();

    // Act
    await readIndexEntry(table.table, 'web');
    await updateIndexEntry(table.table, 'web', { add: api });
    await listIndexEntries(table.table);

    // Assess
    expect(table.mock.commandCalls(GetItemCommand).map((call) => call.args[0].input.ConsistentRead)).toEqual([
      false,
      true,
    ]);
    expect(table.mock.commandCalls(QueryCommand).map((call) => call.args[0].input.ConsistentRead)).toEqual([
      true,
    ]);
  });
});

describe('updateIndexEntry', () => {
  it('writes nothing when the entry already says what the change asks', async () => {
    // Prepare
    await writeIndexEntry(table.table, 'web', [web], 'absent');
    table.mock.resetHistory();

    // Act
    await updateIndexEntry(table.table, 'web', { add: web });
    await updateIndexEntry(table.table, 'web', { remove: api });

    // Assess
    expect(table.mock.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it('swaps one app/environment for another in one write', async () => {
    // Prepare
    await writeIndexEntry(table.table, 'web', [web, { app: 'web', env: 'qa' }], 'absent');

    // Act
    await updateIndexEntry(table.table, 'web', { remove: web, add: api });

    // Assess
    expect((await readIndexEntry(table.table, 'web'))?.appEnvs.map(appEnvKey)).toEqual([
      'api/prod',
      'web/qa',
    ]);
  });
});

describe('a throttled index', () => {
  it.each([
    ['reading', () => readIndexEntry(table.table, 'web'), 'reading the index entry of repository web'],
    ['listing', () => listIndexEntries(table.table, alarmIndexPartition), 'listing the alarm index'],
    [
      'writing',
      () => writeIndexEntry(table.table, 'web-5xx', [web], 'absent', alarmIndexPartition),
      'writing the index entry of alarm web-5xx',
    ],
  ])('says what it was %s when DynamoDB stays throttled', async (_, act, doing) => {
    // Prepare
    table.mock.on(GetItemCommand).rejects(throttled());
    table.mock.on(QueryCommand).rejects(throttled());
    table.mock.on(PutItemCommand).rejects(throttled());

    // Act, Assess
    await expect(act()).rejects.toThrow(expect.objectContaining(transientWhile(doing)));
  });
});
