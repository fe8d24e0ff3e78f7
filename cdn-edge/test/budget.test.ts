import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { checkBudget, S3VariantLister, type VariantListing } from '../src/budget.ts';
import type { EdgeConfig } from '../src/config.ts';
import { errorResponse } from '../src/http.ts';
import type { DerivedRequest } from '../src/url.ts';
import { testConfig } from './support/config.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const request: DerivedRequest = {
  width: 400,
  height: 0,
  fit: 'inside',
  quality: 80,
  format: 'webp',
  path: 'products/shoe.jpg',
};
const budgetConfig = (budget: Partial<EdgeConfig['budget']> = {}) =>
  testConfig({
    budget: {
      maxVariantsPerOriginal: 5,
      maxNewVariantsPerWindow: 3,
      windowSeconds: 60,
      refusalMaxAge: 10,
      ...budget,
    },
  });

/** A listing of variants written `secondsAgo` before NOW. */
function listing(...secondsAgo: number[]): VariantListing {
  return { count: secondsAgo.length, written: secondsAgo.map((s) => new Date(NOW - s * 1000)) };
}

function lister(result: VariantListing | Error) {
  const calls: Array<[string, string, number]> = [];
  return {
    calls,
    async listVariants(bucket: string, prefix: string, maxKeys: number) {
      calls.push([bucket, prefix, maxKeys]);
      if (result instanceof Error) throw result;
      return result;
    },
  };
}

describe('resize budget', () => {
  it('counts the variants under the original’s own prefix, asking for no more than the cap', async () => {
    const variants = lister(listing(3600));

    await checkBudget(request, { config: budgetConfig(), lister: variants, now: () => NOW });

    expect(variants.calls).toEqual([['gantry-cdn-media-dev', 'derived/products/shoe.jpg/', 5]]);
  });

  it('refuses a new variant once the original has the cap, with a 503 cached for refusalMaxAge', async () => {
    const config = budgetConfig();

    const error = await checkBudget(request, {
      config,
      lister: lister(listing(900, 800, 700, 600, 500)),
      now: () => NOW,
    }).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 503, code: 'Resize.BudgetExhausted', retryAfter: 10 });
    expect(errorResponse(error, config.cache).headers).toMatchObject({
      'retry-after': '10',
      'cache-control': 'public, max-age=10',
    });
  });

  it('lets a variant through one below the cap', async () => {
    const outcome = checkBudget(request, {
      config: budgetConfig(),
      lister: lister(listing(900, 800, 700, 600)),
      now: () => NOW,
    });

    await expect(outcome).resolves.toBeUndefined();
  });

  it('refuses when the window already holds the rate, retrying when its oldest write leaves it', async () => {
    // Written 50, 20 and 5 s ago: the one 50 s ago leaves the 60 s window in 10 s.
    const error = await checkBudget(request, {
      config: budgetConfig({ refusalMaxAge: 30 }),
      lister: lister(listing(50, 20, 5)),
      now: () => NOW,
    }).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 503, code: 'Resize.RateLimited', retryAfter: 10 });
  });

  it('caps the rate refusal’s Retry-After at refusalMaxAge, and never says less than 1 s', async () => {
    const late = await checkBudget(request, {
      config: budgetConfig({ refusalMaxAge: 4 }),
      lister: lister(listing(50, 20, 5)),
      now: () => NOW,
    }).catch((e: unknown) => e);
    const edge = await checkBudget(request, {
      config: budgetConfig(),
      lister: lister(listing(59.9, 20, 5)),
      now: () => NOW,
    }).catch((e: unknown) => e);

    expect(late).toMatchObject({ code: 'Resize.RateLimited', retryAfter: 4 });
    expect(edge).toMatchObject({ code: 'Resize.RateLimited', retryAfter: 1 });
  });

  it('does not count variants written before the window against the rate', async () => {
    const outcome = checkBudget(request, {
      config: budgetConfig(),
      lister: lister(listing(60, 20, 5)),
      now: () => NOW,
    });

    await expect(outcome).resolves.toBeUndefined();
  });

  it('refuses briefly when the variants cannot be listed, naming why in the cause', async () => {
    const denied = Object.assign(new Error('denied'), { name: 'AccessDenied' });

    const error = await checkBudget(request, {
      config: budgetConfig(),
      lister: lister(denied),
      now: () => NOW,
    }).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 503, code: 'Resize.BudgetUnknown', retryAfter: 2, cause: denied });
  });

  it('refuses a config whose rate exceeds its cap (the rate is read from the same listing)', () => {
    expect(() => budgetConfig({ maxVariantsPerOriginal: 2, maxNewVariantsPerWindow: 3 })).toThrow(
      'budget.maxNewVariantsPerWindow: must not exceed "maxVariantsPerOriginal"',
    );
  });
});

describe('S3VariantLister', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  it('lists with the delimiter "/", counting a nested original’s variants as one item', async () => {
    s3.on(ListObjectsV2Command).resolves({
      Contents: [
        { Key: 'derived/a.jpg/400x0-inside-q80-webp', LastModified: new Date(NOW - 5000) },
        { Key: 'derived/a.jpg/800x0-inside-q80-webp', LastModified: new Date(NOW - 9000) },
      ],
      CommonPrefixes: [{ Prefix: 'derived/a.jpg/b.jpg/' }],
    });

    const result = await new S3VariantLister(new S3Client({ region: 'us-east-1' })).listVariants(
      'media',
      'derived/a.jpg/',
      60,
    );

    expect(s3.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toEqual({
      Bucket: 'media',
      Prefix: 'derived/a.jpg/',
      Delimiter: '/',
      MaxKeys: 60,
    });
    expect(result).toEqual({ count: 3, written: [new Date(NOW - 5000), new Date(NOW - 9000)] });
  });

  it('reads an empty listing as no variants', async () => {
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });

    const result = await new S3VariantLister(new S3Client({ region: 'us-east-1' })).listVariants(
      'media',
      'derived/a.jpg/',
      60,
    );

    expect(result).toEqual({ count: 0, written: [] });
  });
});
