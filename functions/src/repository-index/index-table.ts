import { GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  type CoordinationTable,
  conditionalWrite,
  type Item,
  keyOf,
  n,
  numberOf,
  s,
  stringOf,
} from '../coordination/table.ts';
import { awsCall, IndexUpdateConflict } from '../errors.ts';

/**
 * The config indexes: which app/environments name a key in their config, so that routing an event
 * reads one item instead of every config in Parameter Store (whose read quota the account shares).
 * The repository index answers a push (which app/environments track an ECR repository); the alarm
 * index answers a CloudWatch alarm (which app/environments list it as a rollback or gate alarm).
 *
 * Both share one item design. One partition per index holds every key's item (sort key: the
 * repository or alarm name), so the reconciler lists a whole index with one paginated Query
 * instead of a table Scan. Each partition is read once per event routed and written once per
 * config change: DynamoDB serves up to 3,000 read units and
 * 1,000 write units a second per partition (DynamoDB developer guide, "Best practices for designing
 * and using partition keys effectively",
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html),
 * and an eventually consistent read of an item under 4 KB costs half a unit: some 6,000 events a
 * second, far above anything ECR, CloudWatch or Step Functions' StartExecution quota lets through.
 *
 * An item lists `app/env` names, each at most 81 bytes (app and env are at most 40 characters,
 * config/schema.ts): under DynamoDB's 400 KB item limit (DynamoDB developer guide, "Service,
 * account, and table quotas", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)
 * that is some 4,800 app/environments on one key, more than any fleet names.
 */
export interface IndexPartition {
  /** The partition key of every item of this index. */
  readonly partition: string;
  /** What its sort keys name, for messages. */
  readonly keyKind: 'repository' | 'alarm';
}

export const repositoryIndexPartition: IndexPartition = {
  partition: 'repository-index',
  keyKind: 'repository',
};
export const alarmIndexPartition: IndexPartition = { partition: 'alarm-index', keyKind: 'alarm' };

export interface AppEnvName {
  app: string;
  env: string;
}

/** One key's entry. `version` guards read-modify-write updates (conditional put). */
export interface IndexEntry {
  /** The repository or alarm name. */
  key: string;
  appEnvs: AppEnvName[];
  version: number;
}

const appEnvsAttribute = 'appEnvs';
const versionAttribute = 'version';

export const appEnvKey = ({ app, env }: AppEnvName): string => `${app}/${env}`;

function parseAppEnvKey(key: string): AppEnvName | undefined {
  const [app, env, ...rest] = key.split('/');
  return app && env && rest.length === 0 ? { app, env } : undefined;
}

function entryOf(item: Item): IndexEntry | undefined {
  const key = stringOf(item, 'sk');
  if (key === undefined) return undefined;
  const list = item[appEnvsAttribute];
  const names = list && 'L' in list ? (list.L ?? []) : [];
  return {
    key,
    appEnvs: names.flatMap((value) => {
      const parsed = 'S' in value && value.S !== undefined ? parseAppEnvKey(value.S) : undefined;
      return parsed ? [parsed] : [];
    }),
    version: numberOf(item, versionAttribute) ?? 0,
  };
}

/**
 * The key's entry in `options.index` (the repository index unless named), or undefined when that
 * index has never seen it. Eventually consistent: an event may route on an entry a moment old,
 * which the reconciler's next period makes good.
 */
export async function readIndexEntry(
  table: CoordinationTable,
  key: string,
  options: { consistent?: boolean; index?: IndexPartition } = {},
): Promise<IndexEntry | undefined> {
  const index = options.index ?? repositoryIndexPartition;
  const { Item: item } = await awsCall(`reading the index entry of ${index.keyKind} ${key}`, () =>
    table.dynamodb.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: keyOf(index.partition, key),
        ConsistentRead: options.consistent ?? false,
      }),
    ),
  );
  return item ? entryOf(item) : undefined;
}

/** Every entry of the index, one Query page after another. */
export async function listIndexEntries(
  table: CoordinationTable,
  index: IndexPartition = repositoryIndexPartition,
): Promise<IndexEntry[]> {
  const entries: IndexEntry[] = [];
  let startKey: Item | undefined;
  do {
    const page = await awsCall(`listing the ${index.keyKind} index`, () =>
      table.dynamodb.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s(index.partition) },
          ConsistentRead: true,
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
      ),
    );
    for (const item of page.Items ?? []) {
      const entry = entryOf(item);
      if (entry) entries.push(entry);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return entries;
}

/**
 * Writes the entry if nobody changed it since `expected` was read (`absent`: if it does not exist
 * yet). False when someone did: their write is newer, and the caller decides whether to re-read.
 */
export async function writeIndexEntry(
  table: CoordinationTable,
  key: string,
  appEnvs: readonly AppEnvName[],
  expected: { version: number } | 'absent',
  index: IndexPartition = repositoryIndexPartition,
): Promise<boolean> {
  const names = [...new Set(appEnvs.map(appEnvKey))].sort();
  return conditionalWrite(`writing the index entry of ${index.keyKind} ${key}`, () =>
    table.dynamodb.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          ...keyOf(index.partition, key),
          [appEnvsAttribute]: { L: names.map(s) },
          [versionAttribute]: n(expected === 'absent' ? 1 : expected.version + 1),
        },
        ...(expected === 'absent'
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: '#version = :version',
              ExpressionAttributeNames: { '#version': versionAttribute },
              ExpressionAttributeValues: { ':version': n(expected.version) },
            }),
      }),
    ),
  );
}

/** Attempts at a read-modify-write before giving up: each lost race means someone else just wrote. */
const updateAttempts = 5;

/**
 * Adds or removes one app/environment in a key's entry, re-reading after a lost race.
 * Throws IndexUpdateConflict after `updateAttempts` lost races (the event is then retried).
 */
export async function updateIndexEntry(
  table: CoordinationTable,
  key: string,
  change: { add?: AppEnvName; remove?: AppEnvName },
  index: IndexPartition = repositoryIndexPartition,
): Promise<void> {
  for (let attempt = 0; attempt < updateAttempts; attempt++) {
    const current = await readIndexEntry(table, key, { consistent: true, index });
    const names = new Map((current?.appEnvs ?? []).map((name) => [appEnvKey(name), name]));
    if (change.remove) names.delete(appEnvKey(change.remove));
    if (change.add) names.set(appEnvKey(change.add), change.add);
    const unchanged =
      current !== undefined &&
      names.size === current.appEnvs.length &&
      current.appEnvs.every((name) => names.has(appEnvKey(name)));
    if (unchanged) return;
    if (await writeIndexEntry(table, key, [...names.values()], current ?? 'absent', index)) return;
  }
  throw new IndexUpdateConflict(`${index.keyKind} ${key}`, updateAttempts);
}
