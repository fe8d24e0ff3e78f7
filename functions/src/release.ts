import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { SSMClient } from '@aws-sdk/client-ssm';
import {
  appEnvPartition,
  type CoordinationTable,
  conditionalWrite,
  type Item,
  keyOf,
  releaseSortKeyPrefix,
  s,
  sortKey,
  sortKeysAfterReleases,
  stringOf,
  waiterSortKey,
} from './coordination/table.ts';
import { awsCall } from './errors.ts';
import { readParameter, writeParameter } from './parameters.ts';
import * as z from './zod.ts';

const deployedImageSchema = z.object({
  /** `registry/repository@sha256:…` */
  image: z.string(),
  digest: z.string(),
  tag: z.optional(z.string()),
  /** What the target ran it as (ECS: the task definition ARN); redeploying it needs no new revision. */
  revision: z.string(),
});

export const releaseRecordSchema = z.extend(deployedImageSchema, {
  /** `release`: a deploy went live; `rollback`: Gantry put this one back; `rollback-failed`: it tried and could not. */
  kind: z.enum(['release', 'rollback', 'rollback-failed']),
  at: z.string(),
  executionArn: z.string(),
  /** When the request behind this record was made: an older request never replaces it. */
  requestedAt: z.optional(z.string()),
  /** What was live before this record; a requested rollback goes back to it. */
  previous: z.nullable(deployedImageSchema),
  /** Why a rollback happened, with the forensics gathered at the time. */
  cause: z.optional(z.object({ error: z.string(), message: z.string(), details: z.optional(z.unknown()) })),
  /** The release that was rolled away from. */
  rolledBackFrom: z.optional(z.partial(deployedImageSchema, { revision: true })),
  reason: z.optional(z.string()),
});

export type DeployedImage = z.infer<typeof deployedImageSchema>;
export type ReleaseRecord = z.infer<typeof releaseRecordSchema>;

export function deployedImageOf(record: DeployedImage): DeployedImage {
  return {
    image: record.image,
    digest: record.digest,
    ...(record.tag !== undefined && { tag: record.tag }),
    revision: record.revision,
  };
}

/**
 * Records written before targets were neutral name the revision `taskDefinitionArn` (ECS was the
 * only target): they keep reading, in Parameter Store and in the history, as the same revision.
 */
export function parseReleaseRecord(value: unknown): ReleaseRecord | undefined {
  const parsed = releaseRecordSchema.safeParse(withNeutralRevision(value));
  return parsed.success ? parsed.data : undefined;
}

function withNeutralRevision(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const { taskDefinitionArn, ...rest } = value as Record<string, unknown>;
  const upgraded: Record<string, unknown> = {
    ...rest,
    ...(rest.revision === undefined && taskDefinitionArn !== undefined && { revision: taskDefinitionArn }),
  };
  for (const nested of ['previous', 'rolledBackFrom'] as const) {
    if (upgraded[nested] && typeof upgraded[nested] === 'object') {
      upgraded[nested] = withNeutralRevision(upgraded[nested]);
    }
  }
  return upgraded;
}

/** What a record says is running, or null when a failed rollback left that unknown. */
export function liveReleaseOf(record: ReleaseRecord | undefined): DeployedImage | null {
  return record && record.kind !== 'rollback-failed' ? deployedImageOf(record) : null;
}

export async function readRelease(ssm: SSMClient, name: string): Promise<ReleaseRecord | undefined> {
  return releaseFrom((await readParameter(ssm, name))?.value);
}

/** The live release a parameter's text records; undefined when there is none. */
export function releaseFrom(text: string | undefined): ReleaseRecord | undefined {
  // A hand-edited, unreadable record must not block deploys; treating it as absent only
  // loses the option of a requested rollback, which then fails with NoPreviousRelease.
  return parseReleaseRecord(safeJson(text));
}

export interface ReleaseStores {
  table: CoordinationTable;
  ssm: SSMClient;
}

/**
 * Records a release: appended to the history in the coordination table (no cap), then written as
 * the live release to Parameter Store (what people and the swarm agent read). Parameter Store's
 * versions are no longer the record: it keeps only the last 100 and refuses a write when the
 * oldest carries a label (SDK model, @aws-sdk/client-ssm ParameterMaxVersionLimitExceeded), so
 * nothing is labelled any more. A retry after a partial failure does not append twice.
 */
export async function recordRelease(
  stores: ReleaseStores,
  where: { app: string; env: string; parameterName: string },
  record: ReleaseRecord,
  /** The newest record, when the caller read it already ({@link readPartitionHead}). */
  read?: { latest: ReleaseRecord | undefined },
): Promise<number> {
  const latest = read ? read.latest : await latestRelease(stores.table, where.app, where.env);
  if (latest?.executionArn !== record.executionArn || latest.kind !== record.kind) {
    await appendRelease(stores.table, where, record);
  }
  return writeParameter(stores.ssm, where.parameterName, fitToParameter(record), { overwrite: true });
}

/** The newest record of the history, or undefined when there is none (or it is unreadable). */
export async function latestRelease(
  table: CoordinationTable,
  app: string,
  env: string,
): Promise<ReleaseRecord | undefined> {
  const [newest] = await releaseHistory(table, app, env, { limit: 1 });
  return newest;
}

/** What the top of an app/environment partition holds: the waiting request and the newest record. */
export interface PartitionHead {
  /** The waiter slot's item, if a request waits for the lock. */
  waiter: Item | undefined;
  latest: ReleaseRecord | undefined;
}

/**
 * The waiter and the newest release record in one strongly consistent Query: read from the top of
 * the partition down, the few items that sort after the history (sortKeysAfterReleases) come
 * first, then the newest record. AcquireLock and RecordRelease need both; two reads cost one more
 * call per deploy.
 */
export async function readPartitionHead(
  table: CoordinationTable,
  app: string,
  env: string,
): Promise<PartitionHead> {
  const { Items, LastEvaluatedKey } = await awsCall('reading the waiter and the newest release', () =>
    table.dynamodb.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk AND sk >= :release',
        ExpressionAttributeValues: {
          ':pk': s(appEnvPartition(app, env)),
          ':release': s(releaseSortKeyPrefix),
        },
        ScanIndexForward: false,
        Limit: sortKeysAfterReleases.length + 1,
        ConsistentRead: true,
      }),
    ),
  );
  const items = Items ?? [];
  const waiter = items.find((item) => stringOf(item, sortKey) === waiterSortKey);
  const newest = items.find((item) => stringOf(item, sortKey)?.startsWith(releaseSortKeyPrefix));
  // A page with no record but more to read would mean an item this layout does not know sorts
  // above the history: read the history itself rather than report none.
  if (!newest && LastEvaluatedKey) return { waiter, latest: await latestRelease(table, app, env) };
  return { waiter, latest: newest && parseReleaseRecord(safeJson(stringOf(newest, 'record'))) };
}

/** The history, newest first: one Query page of at most `limit` records. */
export async function releaseHistory(
  table: CoordinationTable,
  app: string,
  env: string,
  options: { limit: number },
): Promise<ReleaseRecord[]> {
  const { Items } = await awsCall('reading the release history', () =>
    table.dynamodb.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :release)',
        ExpressionAttributeValues: {
          ':pk': s(appEnvPartition(app, env)),
          ':release': s(releaseSortKeyPrefix),
        },
        ScanIndexForward: false,
        Limit: options.limit,
        ConsistentRead: true,
      }),
    ),
  );
  return (Items ?? []).flatMap((item: Item) => {
    const record = parseReleaseRecord(safeJson(stringOf(item, 'record')));
    return record ? [record] : [];
  });
}

/**
 * One history item, sorted by when it was recorded. Written only if absent: the history is
 * append-only, a record is never overwritten.
 */
export async function appendRelease(
  table: CoordinationTable,
  where: { app: string; env: string },
  record: ReleaseRecord,
): Promise<void> {
  // An execution ARN ends with its name: `arn:${Partition}:states:${Region}:${Account}:execution:
  // ${StateMachineName}:${ExecutionId}` (Service Authorization Reference, AWS Step Functions, resource types).
  const executionName = record.executionArn.slice(record.executionArn.lastIndexOf(':') + 1);
  // False when the same record is there already (an earlier try, or the migration): nothing to do.
  await conditionalWrite('appending to the release history', () =>
    table.dynamodb.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          ...keyOf(
            appEnvPartition(where.app, where.env),
            `${releaseSortKeyPrefix}${record.at}#${executionName}#${record.kind}`,
          ),
          kind: s(record.kind),
          executionArn: s(record.executionArn),
          at: s(record.at),
          record: s(JSON.stringify(record)),
        },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    ),
  );
}

/** A Standard parameter holds 4 KB; the live release never fails to be written for its forensics' sake. */
const maxParameterBytes = 4096;

function fitToParameter(record: ReleaseRecord): string {
  const text = JSON.stringify(record);
  if (Buffer.byteLength(text) <= maxParameterBytes || !record.cause) return text;
  return JSON.stringify({
    ...record,
    cause: { error: record.cause.error, message: record.cause.message.slice(0, 500) },
  });
}

/** The value `text` holds as JSON; undefined when it holds none, or there is no text at all. */
export function safeJson(text: string | null | undefined): unknown {
  if (text == null) return undefined; // undefined or null: no text at all
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
