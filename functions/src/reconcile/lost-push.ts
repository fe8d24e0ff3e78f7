import { QueryCommand } from '@aws-sdk/client-dynamodb';
import type { DeployConfig } from '../config/schema.ts';
import {
  appEnvPartition,
  type CoordinationTable,
  type Item,
  releaseSortKeyPrefix,
  s,
  stringOf,
} from '../coordination/table.ts';
import { awsCall } from '../errors.ts';
import { parseReleaseRecord, type ReleaseRecord, safeJson } from '../release.ts';
import type { RegistryImage } from './images.ts';

export type LostPushCandidate =
  | { found: true; image: RegistryImage; tag: string }
  | { found: false; why: string };

/**
 * The image whose push event may have been lost: the newest image with a tag matching the
 * config's `tagPattern`, if it was pushed after the live release was asked for and is not live.
 *
 * "Asked for" is the record's `requestedAt` (the push, the alarm, the person's start), falling back
 * to when it was recorded: a push made while the live release was rolling out started a deploy of
 * its own (that waited for the lock), so if that event was lost the image is still owed; a push
 * made before a person deployed something else by hand is not. With no release recorded yet,
 * "after the config was last written": a push before that could not have deployed anything, so the
 * reconciler does not deploy it either (a first deploy is a person's decision). Pure: the history
 * and Step Functions checks come after.
 */
export function findLostPush(
  input: { config: DeployConfig; release?: ReleaseRecord; configModifiedAt: number },
  images: readonly RegistryImage[],
): LostPushCandidate {
  const { tagPattern } = input.config;
  if (tagPattern === undefined) return { found: false, why: 'no tagPattern: manual starts only' };
  const pattern = new RegExp(tagPattern);
  let newest: { image: RegistryImage; tag: string } | undefined;
  for (const image of images) {
    const tag = image.tags.find((candidate) => pattern.test(candidate));
    if (tag === undefined) continue;
    // Equal push times: the greater digest, so every run picks the same image.
    if (
      newest === undefined ||
      image.pushedAt > newest.image.pushedAt ||
      (image.pushedAt === newest.image.pushedAt && image.digest > newest.image.digest)
    ) {
      newest = { image, tag };
    }
  }
  if (newest === undefined) return { found: false, why: 'no image has a tag matching tagPattern' };
  // Never older than the live image itself: event times are whole seconds, ECR's push times are
  // not, so an image pushed in the same second just before the live one must not look newer.
  const liveImage = images.find((candidate) => candidate.digest === input.release?.digest);
  const since = Math.max(
    input.release ? Date.parse(input.release.requestedAt ?? input.release.at) : input.configModifiedAt,
    liveImage?.pushedAt ?? Number.NEGATIVE_INFINITY,
  );
  if (input.release?.digest === newest.image.digest)
    return { found: false, why: 'the newest matching image is live' };
  if (!(newest.image.pushedAt > since)) {
    return {
      found: false,
      why: input.release
        ? 'nothing matching was pushed after the live release was asked for'
        : 'nothing matching was pushed after the config was written',
    };
  }
  return { found: true, ...newest };
}

/**
 * The record that rules `digest` out, if any: Gantry rolled back from it (a failed rollout, an
 * alarm, or a person's rollback) or failed trying. A digest someone rolled back is never deployed
 * again by the reconciler, whatever its tag says.
 */
export function rejectionOf(history: readonly ReleaseRecord[], digest: string): ReleaseRecord | undefined {
  // Only rollbacks and failed rollbacks name what they rolled away from.
  return history.find((record) => record.rolledBackFrom?.digest === digest);
}

/** Records at most this many a Query page: a push is followed by a handful of records at most. */
const historyPageSize = 25;

/**
 * The release history recorded at or after `sinceMs`, oldest first: a rollout of an image can only
 * be recorded after its push. Sort keys begin `release#<ISO time>`, so this is a key range.
 */
export async function historySince(
  table: CoordinationTable,
  where: { app: string; env: string },
  sinceMs: number,
): Promise<ReleaseRecord[]> {
  const records: ReleaseRecord[] = [];
  let startKey: Item | undefined;
  do {
    const page = await awsCall('reading the release history', () =>
      table.dynamodb.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': s(appEnvPartition(where.app, where.env)),
            ':from': s(`${releaseSortKeyPrefix}${new Date(sinceMs).toISOString()}`),
            // After every ISO time: the release records end before this.
            ':to': s(`${releaseSortKeyPrefix}\uffff`),
          },
          Limit: historyPageSize,
          ConsistentRead: true,
          ...(startKey !== undefined && { ExclusiveStartKey: startKey }),
        }),
      ),
    );
    for (const item of page.Items ?? []) {
      const record = parseReleaseRecord(safeJson(stringOf(item, 'record')));
      if (record) records.push(record);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return records;
}
