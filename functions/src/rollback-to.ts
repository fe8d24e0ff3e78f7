import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, type ECRClient } from '@aws-sdk/client-ecr';
import {
  appEnvPartition,
  type CoordinationTable,
  type Item,
  releaseSortKeyPrefix,
  s,
  stringOf,
} from './coordination/table.ts';
import { awsCall, hasErrorName, ImageNotFound, NoPreviousRelease } from './errors.ts';
import { isDigest, parseImageRef } from './image-ref.ts';
import { type DeployedImage, parseReleaseRecord, type ReleaseRecord, safeJson } from './release.ts';

/**
 * Which recorded release a person means by `--to`: a tag (`v1.4.1`), a digest (`sha256:…`, or its
 * first 12 or more hex digits, as `docker images` shows them), or the execution that recorded it
 * (its name or ARN).
 */
export function matchesRelease(record: ReleaseRecord, selector: string): boolean {
  if (record.tag === selector || record.executionArn === selector) return true;
  if (record.executionArn.endsWith(`:${selector}`)) return true;
  const hex = selector.startsWith('sha256:') ? selector.slice('sha256:'.length) : selector;
  return /^[0-9a-f]{12,64}$/.test(hex) && record.digest.startsWith(`sha256:${hex}`);
}

export const historyPageSize = 100;

/**
 * The newest release of the history `selector` names that was live once (a release or a rollback;
 * a failed rollback recorded no working state). Reads the history newest first, page by page
 * (DynamoDB answers at most 1 MB a Query), until it finds one: the history has no cap.
 */
export async function findRecordedRelease(
  table: CoordinationTable,
  where: { app: string; env: string },
  selector: string,
): Promise<ReleaseRecord> {
  let exclusiveStartKey: Item | undefined;
  do {
    const page = await awsCall('reading the release history', () =>
      table.dynamodb.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :release)',
          ExpressionAttributeValues: {
            ':pk': s(appEnvPartition(where.app, where.env)),
            ':release': s(releaseSortKeyPrefix),
          },
          ScanIndexForward: false,
          ConsistentRead: true,
          // A person mostly means a recent release: small pages stop early (AWS also pages at 1 MB).
          Limit: historyPageSize,
          ...(exclusiveStartKey && { ExclusiveStartKey: exclusiveStartKey }),
        }),
      ),
    );
    for (const item of page.Items ?? []) {
      const record = parseReleaseRecord(safeJson(stringOf(item, 'record')));
      if (record && record.kind !== 'rollback-failed' && matchesRelease(record, selector)) return record;
    }
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey);
  throw new NoPreviousRelease(`no release of ${where.app}/${where.env} in its history matches "${selector}"`);
}

/**
 * Refuses a release whose image is no longer in ECR (deleted by hand or by a lifecycle policy):
 * whatever the revision, its tasks could not pull it. One DescribeImages by digest.
 */
export async function requireImageInEcr(
  ecr: ECRClient,
  release: Pick<DeployedImage, 'image' | 'digest'>,
): Promise<void> {
  const { repository } = parseImageRef(release.image);
  if (!isDigest(release.digest)) {
    throw new ImageNotFound(`the release names no digest (${release.digest}): it cannot be pinned`);
  }
  try {
    await awsCall(`looking up ${repository}@${release.digest} in ECR`, () =>
      ecr.send(
        new DescribeImagesCommand({
          repositoryName: repository,
          imageIds: [{ imageDigest: release.digest }],
        }),
      ),
    );
  } catch (error) {
    if (hasErrorName(error, 'ImageNotFoundException') || hasErrorName(error, 'RepositoryNotFoundException')) {
      throw new ImageNotFound(
        `${repository}@${release.digest} is no longer in ECR (${(error as Error).name}): a release of it cannot run again`,
        { cause: error },
      );
    }
    throw error;
  }
}
