import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { EdgeConfig } from './config.ts';
import { HttpError } from './errors.ts';
import { type DerivedRequest, variantsPrefix } from './url.ts';

/** The variants an original already has, as far as one listing shows (at most `maxKeys` items). */
export interface VariantListing {
  /** Objects and folded nested prefixes listed, at most maxKeys. */
  readonly count: number;
  /** When each listed variant was written. */
  readonly written: readonly Date[];
}

/** Lists what is stored directly under a derived prefix; tests and the local CDN pass their own. */
export interface VariantLister {
  listVariants(bucket: string, prefix: string, maxKeys: number): Promise<VariantListing>;
}

/**
 * One ListObjectsV2 call: the variants of an original are the objects directly under its prefix
 * (url.ts, variantsPrefix). With the delimiter `/`, the variants of an original nested under this
 * one come back as one CommonPrefix, which ListObjectsV2 counts as one item against MaxKeys ("All of
 * the keys that roll up into a common prefix count as a single return", ListObjectsV2Output in the
 * S3 SDK model), so they are counted too: a nested original costs its parent at most one slot.
 * MaxKeys is at most 1,000 (same model), hence the config's bound on the cap.
 */
export class S3VariantLister implements VariantLister {
  readonly #client: S3Client;

  constructor(client: S3Client) {
    this.#client = client;
  }

  async listVariants(bucket: string, prefix: string, maxKeys: number): Promise<VariantListing> {
    const output = await this.#client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', MaxKeys: maxKeys }),
    );
    const objects = output.Contents ?? [];
    return {
      count: objects.length + (output.CommonPrefixes?.length ?? 0),
      written: objects.flatMap((o) => (o.LastModified ? [o.LastModified] : [])),
    };
  }
}

export interface BudgetDeps {
  readonly config: EdgeConfig;
  readonly lister: VariantLister;
  readonly now: () => number;
}

/**
 * The resize budget of one original, checked on a miss before anything is read or resized: at most
 * `maxVariantsPerOriginal` stored variants, and at most `maxNewVariantsPerWindow` written in the
 * last `windowSeconds`. It holds across every Lambda instance and edge location because it counts
 * what is stored in S3, not what one process saw. Hits never come here (CloudFront or S3 serves
 * them), so only misses are limited.
 *
 * The refusal is a 503 with Retry-After and `max-age`: CloudFront caches a 503 for the max-age the
 * origin gives, while a 429 is not among the status codes it caches ("HTTP 4xx and 5xx status codes
 * that CloudFront caches", CloudFront Developer Guide), so every request for a refused URL would
 * reach the resizer (and S3's LIST) again. The check is not atomic: simultaneous misses of one
 * original each see the same count, so the cap can be passed by as many misses as run at once.
 */
export async function checkBudget(request: DerivedRequest, deps: BudgetDeps): Promise<void> {
  const { config, lister, now } = deps;
  const budget = config.budget;
  let listing: VariantListing;
  try {
    listing = await lister.listVariants(
      config.derived.bucket,
      variantsPrefix(request.path, config),
      budget.maxVariantsPerOriginal,
    );
  } catch (error) {
    // Without a count the budget cannot be judged: refuse briefly rather than resize unbounded.
    throw new HttpError(503, 'Resize.BudgetUnknown', 'the resize budget cannot be checked, retry shortly', {
      cause: error,
      retryAfter: config.limits.retryAfterSeconds,
    });
  }
  if (listing.count >= budget.maxVariantsPerOriginal) {
    throw new HttpError(
      503,
      'Resize.BudgetExhausted',
      `this image already has ${budget.maxVariantsPerOriginal} variants; use one of the sizes already in use`,
      { retryAfter: budget.refusalMaxAge },
    );
  }
  const windowMs = budget.windowSeconds * 1000;
  const current = now();
  const recent = listing.written
    .map((date) => date.getTime())
    .filter((time) => time > current - windowMs)
    .sort((a, b) => a - b);
  if (recent.length >= budget.maxNewVariantsPerWindow) {
    // A slot frees when the oldest write that keeps the window full leaves it.
    const freedAt = (recent[recent.length - budget.maxNewVariantsPerWindow] ?? current) + windowMs;
    const wait = Math.ceil((freedAt - current) / 1000);
    throw new HttpError(
      503,
      'Resize.RateLimited',
      `too many new variants of this image in the last ${budget.windowSeconds} s, retry shortly`,
      { retryAfter: Math.min(Math.max(wait, 1), budget.refusalMaxAge) },
    );
  }
}
