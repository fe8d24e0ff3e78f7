import { createHash } from 'node:crypto';
import { type CloudFrontClient, CreateInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { EdgeConfig } from './config.ts';
import { type OriginalChange, publicPathsOf } from './originals.ts';
import { encodePath, variantsPrefix } from './url.ts';

/**
 * When an original changes, every variant of it goes: the derived objects in S3 (so a miss
 * regenerates from the new original) and, after that, CloudFront's cached copies (one invalidation
 * per batch of changes). Deleting first matters: a request arriving between an invalidation and a
 * later delete would cache the old variant again from S3.
 */

/** An error the function cannot finish past; the batch is retried (SQS redelivers it). */
export class InvalidationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidationError';
  }
}

/** Creates a CloudFront invalidation; the local CDN passes its own. Returns its id. */
export interface Invalidator {
  createInvalidation(paths: readonly string[], callerReference: string): Promise<string | undefined>;
}

export class CloudFrontInvalidator implements Invalidator {
  readonly #client: CloudFrontClient;
  readonly #distributionId: string;

  constructor(client: CloudFrontClient, distributionId: string) {
    this.#client = client;
    this.#distributionId = distributionId;
  }

  async createInvalidation(paths: readonly string[], callerReference: string): Promise<string | undefined> {
    const created = await this.#client.send(
      new CreateInvalidationCommand({
        DistributionId: this.#distributionId,
        InvalidationBatch: {
          CallerReference: callerReference,
          Paths: { Quantity: paths.length, Items: [...paths] },
        },
      }),
    );
    return created.Invalidation?.Id;
  }
}

export interface InvalidationDeps {
  readonly config: Pick<EdgeConfig, 'derived' | 'routes'>;
  readonly s3: S3Client;
  readonly invalidator: Invalidator;
  readonly log: (entry: Record<string, unknown>) => void;
  /** Listing pages (1,000 keys each) read per original before giving up for this delivery. */
  readonly maxPagesPerOriginal?: number;
  /** Wildcard paths per invalidation before they are merged into their common prefix. */
  readonly maxWildcardPaths?: number;
}

/**
 * CloudFront allows 15 wildcard invalidation paths in progress per distribution ("Concurrent
 * invalidation request maximum", CloudFront Developer Guide); with at most 5 per invalidation,
 * three invalidations can overlap before one is refused.
 */
export const DEFAULT_MAX_WILDCARD_PATHS = 5;
const DEFAULT_MAX_PAGES = 10;

/**
 * Deletes the variants stored directly under `prefix` (url.ts, variantsPrefix), a page at a time:
 * ListObjectsV2 with the delimiter `/` returns at most 1,000 of them, exactly what one
 * DeleteObjects call accepts ("up to 1,000 keys", DeleteObjects in the S3 SDK model). The variants
 * of an original nested under this one are a CommonPrefix and are not touched. Returns how many
 * were deleted; throws when S3 reports a key it could not delete, or when more than `maxPages`
 * pages remain (the redelivery goes on from where this one stopped: deleted keys are gone).
 */
export async function deleteVariants(
  s3: S3Client,
  bucket: string,
  prefix: string,
  maxPages: number,
): Promise<number> {
  let deleted = 0;
  let token: string | undefined;
  for (let page = 0; page < maxPages; page += 1) {
    const listing = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
    );
    const keys = (listing.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length > 0) {
      const result = await s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
      );
      const failed = result.Errors ?? [];
      if (failed.length > 0) {
        throw new InvalidationError(
          `S3 could not delete ${failed.length} variant(s) under ${prefix} (${failed[0]?.Code ?? 'unknown'})`,
        );
      }
      deleted += keys.length;
    }
    if (!listing.IsTruncated) return deleted;
    token = listing.NextContinuationToken;
  }
  throw new InvalidationError(
    `more than ${maxPages} pages of variants under ${prefix}; the rest on redelivery`,
  );
}

/**
 * The invalidation paths of the variants of `publicPaths`: `/<derived prefix><path>/*` each, as the
 * cache key has it. CloudFront keys its cache on the URI viewer-request produced (the derived URI),
 * and invalidation paths name cache keys; AWS recommends naming the viewer's URI as well ("What you
 * need to know when invalidating paths" › Changing the URI by using a Lambda function), but public
 * URIs (`/<size>/<path>`) start with the size, and a wildcard may only end a path (same page), so no
 * path covers them; nothing is cached under them either. Paths are percent-encoded as in the URI.
 * Over `maxWildcards` paths are merged into their longest common prefix plus `*`: a broader
 * invalidation only costs S3 reads (the variants of other originals are still stored), whereas one
 * more wildcard could hit the in-progress quota.
 */
export function invalidationPaths(
  publicPaths: readonly string[],
  config: Pick<EdgeConfig, 'derived'>,
  maxWildcards: number,
): string[] {
  const prefixes = [...new Set(publicPaths)].map((path) => `/${encodePath(variantsPrefix(path, config))}`);
  if (prefixes.length <= maxWildcards) return prefixes.map((prefix) => `${prefix}*`);
  let common = prefixes[0] ?? '';
  for (const prefix of prefixes) {
    let length = 0;
    while (length < common.length && common[length] === prefix[length]) length += 1;
    common = common.slice(0, length);
  }
  return [`${common}*`];
}

export interface InvalidationOutcome {
  readonly deleted: number;
  readonly paths: readonly string[];
  readonly invalidationId: string | undefined;
}

/**
 * Handles one batch of changed originals: deletes the variants of every public path that reads
 * them, then creates one invalidation for the batch. `batchId` identifies the delivery (e.g. the
 * SQS message ids) and makes the CallerReference, so a redelivered batch does not create a second
 * invalidation: "If you make a second invalidation request with the same value for
 * CallerReference, and if the rest of the request is the same, CloudFront doesn't create a new
 * invalidation request" (InvalidationBatch.CallerReference, CloudFront SDK model).
 * TooManyInvalidationsInProgress and every other failure propagate: the batch is redelivered after
 * the queue's visibility timeout, which is the backoff, and deleting again is harmless.
 */
export async function invalidateOriginals(
  changes: readonly OriginalChange[],
  batchId: string,
  deps: InvalidationDeps,
): Promise<InvalidationOutcome> {
  const { config, s3, invalidator, log } = deps;
  // Derived objects are never originals, even when a catch-all route's prefix covers them: the
  // function's own deletions (and every resize) would otherwise come back as changes.
  const originals = changes.filter(
    (c) => c.bucket !== config.derived.bucket || !c.key.startsWith(config.derived.prefix),
  );
  const publicPaths = [
    ...new Set(originals.flatMap((c) => publicPathsOf(c.bucket, c.key, config.routes))),
  ].sort();
  if (publicPaths.length === 0) return { deleted: 0, paths: [], invalidationId: undefined };
  let deleted = 0;
  for (const path of publicPaths) {
    deleted += await deleteVariants(
      s3,
      config.derived.bucket,
      variantsPrefix(path, config),
      deps.maxPagesPerOriginal ?? DEFAULT_MAX_PAGES,
    );
  }
  const paths = invalidationPaths(publicPaths, config, deps.maxWildcardPaths ?? DEFAULT_MAX_WILDCARD_PATHS);
  const callerReference = createHash('sha256')
    .update(`${batchId}\n${paths.join('\n')}`)
    .digest('hex');
  const invalidationId = await invalidator.createInvalidation(paths, callerReference);
  log({
    level: 'info',
    code: 'Invalidate.Done',
    originals: publicPaths.length,
    deleted,
    paths,
    invalidationId,
  });
  return { deleted, paths, invalidationId };
}
