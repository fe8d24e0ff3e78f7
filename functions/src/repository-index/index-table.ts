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
 * The repository index: which app/environments track each ECR repository, so that routing a push
 * reads one item instead of every config in Parameter Store (whose read quota the account shares).
 *
 * One partition holds every repository's item (sort key: the repository name), so the reconciler
 * lists the whole index with one paginated Query instead of a table Scan. That partition is read
 * once per push and written once per config change: DynamoDB serves up to 3,000 read units and
 * 1,000 write units a second per partition (DynamoDB developer guide, "Best practices for designing
 * and using partition keys effectively",
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html),
 * and an eventually consistent read of an item under 4 KB costs half a unit: some 6,000 pushes a
 * second, far above anything ECR or Step Functions' StartExecution quota lets through.
 *
 * An item lists `app/env` names, each at most 81 bytes (app and env are at most 40 characters,
 * config/schema.ts): under DynamoDB's 400 KB item limit (DynamoDB developer guide, "Service,
 * account, and table quotas", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)
 * that is some 4,800 app/environments on one repository, more than any fleet tracks.
 */
export const repositoryIndexPartition = 'repository-index';

export interface AppEnvName {
  app: string;
  env: string;
}

/** One repository's entry. `version` guards read-modify-write updates (conditional put). */
export interface IndexEntry {
  repository: string;
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
  const repository = stringOf(item, 'sk');
  if (repository === undefined) return undefined;
  const list = item[appEnvsAttribute];
  const names = list && 'L' in list ? (list.L ?? []) : [];
  return {
    repository,
    appEnvs: names.flatMap((value) => {
      const parsed = 'S' in value && value.S !== undefined ? parseAppEnvKey(value.S) : undefined;
      return parsed ? [parsed] : [];
    }),
    version: numberOf(item, versionAttribute) ?? 0,
  };
}

/**
 * The repository's entry, or undefined when the index has never seen it. Eventually consistent:
 * a push may route on an entry a moment old, which the reconciler's next period makes good.
 */
export async function readIndexEntry(
  table: CoordinationTable,
  repository: string,
  options: { consistent?: boolean } = {},
): Promise<IndexEntry | undefined> {
  const { Item: item } = await awsCall(`reading the index entry of ${repository}`, () =>
    table.dynamodb.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: keyOf(repositoryIndexPartition, repository),
        ConsistentRead: options.consistent ?? false,
      }),
    ),
  );
  return item ? entryOf(item) : undefined;
}

/** Every entry of the index, one Query page after another. */
export async function listIndexEntries(table: CoordinationTable): Promise<IndexEntry[]> {
  const entries: IndexEntry[] = [];
  let startKey: Item | undefined;
  do {
    const page = await awsCall('listing the repository index', () =>
      table.dynamodb.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s(repositoryIndexPartition) },
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
  repository: string,
  appEnvs: readonly AppEnvName[],
  expected: { version: number } | 'absent',
): Promise<boolean> {
  const names = [...new Set(appEnvs.map(appEnvKey))].sort();
  return conditionalWrite(`writing the index entry of ${repository}`, () =>
    table.dynamodb.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          ...keyOf(repositoryIndexPartition, repository),
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
 * Adds or removes one app/environment in a repository's entry, re-reading after a lost race.
 * Throws IndexUpdateConflict after `updateAttempts` lost races (the event is then retried).
 */
export async function updateIndexEntry(
  table: CoordinationTable,
  repository: string,
  change: { add?: AppEnvName; remove?: AppEnvName },
): Promise<void> {
  for (let attempt = 0; attempt < updateAttempts; attempt++) {
    const current = await readIndexEntry(table, repository, { consistent: true });
    const names = new Map((current?.appEnvs ?? []).map((name) => [appEnvKey(name), name]));
    if (change.remove) names.delete(appEnvKey(change.remove));
    if (change.add) names.set(appEnvKey(change.add), change.add);
    const unchanged =
      current !== undefined &&
      names.size === current.appEnvs.length &&
      current.appEnvs.every((name) => names.has(appEnvKey(name)));
    if (unchanged) return;
    if (await writeIndexEntry(table, repository, [...names.values()], current ?? 'absent')) return;
  }
  throw new IndexUpdateConflict(repository, updateAttempts);
}
