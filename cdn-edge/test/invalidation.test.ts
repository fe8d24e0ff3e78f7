import {
  CloudFrontClient,
  CreateInvalidationCommand,
  TooManyInvalidationsInProgress,
} from '@aws-sdk/client-cloudfront';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createInvalidateHandler } from '../src/handlers/invalidate.ts';
import {
  CloudFrontInvalidator,
  deleteVariants,
  type InvalidationDeps,
  invalidateOriginals,
  invalidationPaths,
} from '../src/invalidation.ts';
import { originalChanges, publicPathsOf } from '../src/originals.ts';
import { testConfig } from './support/config.ts';
import { notificationKey, S3_TEST_EVENT, s3Notification } from './support/s3-events.ts';

const config = testConfig();
const BUCKET = 'gantry-cdn-media-dev';
// One mock per client class for the whole file: a second mockClient of the same class replaces the first.
const s3 = mockClient(S3Client);
const cloudFront = mockClient(CloudFrontClient);
afterEach(() => {
  s3.reset();
  cloudFront.reset();
});

describe('originalChanges (S3 event notifications)', () => {
  it('reads bucket, decoded key and event of each created or removed object', () => {
    const message = s3Notification([
      { bucket: BUCKET, key: notificationKey('originals/catalog/red shoe+1.jpg') },
      { bucket: BUCKET, key: 'test%2Fkey.jpg', eventName: 'ObjectRemoved:Delete' },
    ]);

    expect(originalChanges(message)).toEqual([
      { bucket: BUCKET, key: 'originals/catalog/red shoe+1.jpg', eventName: 'ObjectCreated:Put' },
      { bucket: BUCKET, key: 'test/key.jpg', eventName: 'ObjectRemoved:Delete' },
    ]);
  });

  it('finds no change in the test event, in other event types or in malformed records', () => {
    const others = s3Notification([
      { bucket: BUCKET, key: 'a.jpg', eventName: 'ObjectRestore:Completed' },
      { bucket: BUCKET, key: '%E0%A4%A.jpg' },
    ]);
    const malformed = { Records: [null, { eventName: 'ObjectCreated:Put', s3: { bucket: {} } }] };

    expect(originalChanges(S3_TEST_EVENT)).toEqual([]);
    expect(originalChanges(others)).toEqual([]);
    expect(originalChanges(malformed)).toEqual([]);
    expect(originalChanges(null)).toEqual([]);
  });
});

describe('publicPathsOf (routing backwards)', () => {
  it('finds every public path that reads an object, and only those', () => {
    // products/ → originals/catalog/, and the catch-all → originals/: both read the same object.
    expect(publicPathsOf(BUCKET, 'originals/catalog/shoe.jpg', config.routes)).toEqual([
      'products/shoe.jpg',
      'catalog/shoe.jpg',
    ]);
    expect(publicPathsOf(BUCKET, 'originals/logo.png', config.routes)).toEqual(['logo.png']);
  });

  it('drops a candidate that a longer route takes elsewhere, and objects no route reads', () => {
    const routes = [
      { match: 'products/', bucket: BUCKET, keyPrefix: 'catalog/' },
      { match: '', bucket: BUCKET, keyPrefix: '' },
    ];

    // Via the catch-all, `catalog/x.jpg` would be path `catalog/x.jpg` (it is); via products/, the
    // same object is `products/x.jpg`. But `products/y.jpg` read by the catch-all is not: that path
    // routes to `catalog/y.jpg`.
    expect(publicPathsOf(BUCKET, 'products/y.jpg', routes)).toEqual([]);
    expect(publicPathsOf('another-bucket', 'originals/a.jpg', config.routes)).toEqual([]);
    expect(publicPathsOf(BUCKET, 'originals/', config.routes)).toEqual([]);
  });
});

describe('invalidationPaths', () => {
  it('names one wildcard per original, percent-encoded as in the cache key', () => {
    expect(invalidationPaths(['products/shoe.jpg', 'a b/é.jpg', 'products/shoe.jpg'], config, 5)).toEqual([
      '/derived/products/shoe.jpg/*',
      '/derived/a%20b/%C3%A9.jpg/*',
    ]);
  });

  it('merges more wildcards than allowed into their longest common prefix', () => {
    const paths = ['products/shoe.jpg', 'products/shirt.jpg', 'products/sock.jpg'];

    expect(invalidationPaths(paths, config, 2)).toEqual(['/derived/products/s*']);
    expect(invalidationPaths(['a.jpg', 'b.jpg'], config, 1)).toEqual(['/derived/*']);
  });
});

describe('deleteVariants', () => {
  it('lists a page at a time with the delimiter "/" and deletes each page in one call', async () => {
    const page = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => ({ Key: `derived/a.jpg/${from + i}x0-inside-q80-webp` }));
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ Contents: page(1000, 0), IsTruncated: true, NextContinuationToken: 'next' })
      .resolvesOnce({ Contents: page(3, 1000), CommonPrefixes: [{ Prefix: 'derived/a.jpg/b.jpg/' }] });
    s3.on(DeleteObjectsCommand).resolves({});

    const deleted = await deleteVariants(
      new S3Client({ region: 'us-east-1' }),
      'media',
      'derived/a.jpg/',
      10,
    );

    const lists = s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    const deletes = s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input);
    expect(deleted).toBe(1003);
    expect(lists).toEqual([
      { Bucket: 'media', Prefix: 'derived/a.jpg/', Delimiter: '/', ContinuationToken: undefined },
      { Bucket: 'media', Prefix: 'derived/a.jpg/', Delimiter: '/', ContinuationToken: 'next' },
    ]);
    expect(deletes.map((d) => d.Delete?.Objects?.length)).toEqual([1000, 3]);
    expect(deletes[0]?.Delete?.Quiet).toBe(true);
    // The nested original's variants (a common prefix) are not deleted.
    expect(deletes.flatMap((d) => d.Delete?.Objects?.map((o) => o.Key))).not.toContain(
      'derived/a.jpg/b.jpg/',
    );
  });

  it('deletes nothing for an original without variants', async () => {
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });

    const deleted = await deleteVariants(
      new S3Client({ region: 'us-east-1' }),
      'media',
      'derived/a.jpg/',
      10,
    );

    expect(deleted).toBe(0);
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('fails when S3 could not delete a key, naming the error', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'derived/a.jpg/80x0-inside-q80-webp' }] });
    s3.on(DeleteObjectsCommand).resolves({
      Errors: [{ Key: 'derived/a.jpg/80x0-inside-q80-webp', Code: 'AccessDenied' }],
    });

    const outcome = deleteVariants(new S3Client({ region: 'us-east-1' }), 'media', 'derived/a.jpg/', 10);

    await expect(outcome).rejects.toMatchObject({
      name: 'InvalidationError',
      message: 'S3 could not delete 1 variant(s) under derived/a.jpg/ (AccessDenied)',
    });
  });

  it('stops after maxPages pages, leaving the rest to the redelivery', async () => {
    s3.on(ListObjectsV2Command).resolves({
      Contents: [{ Key: 'derived/a.jpg/80x0-inside-q80-webp' }],
      IsTruncated: true,
      NextContinuationToken: 'more',
    });
    s3.on(DeleteObjectsCommand).resolves({});

    const outcome = deleteVariants(new S3Client({ region: 'us-east-1' }), 'media', 'derived/a.jpg/', 2);

    await expect(outcome).rejects.toMatchObject({
      name: 'InvalidationError',
      message: 'more than 2 pages of variants under derived/a.jpg/; the rest on redelivery',
    });
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(2);
  });
});

describe('invalidateOriginals and the SQS handler', () => {
  function deps(logs: Array<Record<string, unknown>> = []): InvalidationDeps {
    return {
      config,
      s3: new S3Client({ region: 'us-east-1' }),
      invalidator: new CloudFrontInvalidator(
        new CloudFrontClient({ region: 'us-east-1' }),
        'EDFDVBD6EXAMPLE',
      ),
      log: (entry) => logs.push(entry),
    };
  }

  function sqsEvent(...bodies: unknown[]): SQSEvent {
    return {
      Records: bodies.map((body, i) => ({
        messageId: `m-${i}`,
        receiptHandle: 'r',
        body: typeof body === 'string' ? body : JSON.stringify(body),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: '0',
          SenderId: 'S3',
          ApproximateFirstReceiveTimestamp: '0',
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:gantry-cdn-originals',
        awsRegion: 'us-east-1',
      })),
    };
  }

  it('deletes the variants of every path reading the changed original, then creates one invalidation', async () => {
    s3.on(ListObjectsV2Command, { Prefix: 'derived/products/shoe.jpg/' }).resolves({
      Contents: [{ Key: 'derived/products/shoe.jpg/400x0-inside-q80-webp' }],
    });
    s3.on(ListObjectsV2Command, { Prefix: 'derived/catalog/shoe.jpg/' }).resolves({});
    s3.on(DeleteObjectsCommand).resolves({});
    cloudFront.on(CreateInvalidationCommand).resolves({ Invalidation: { Id: 'I1' } as never });
    const event = sqsEvent(s3Notification([{ bucket: BUCKET, key: 'originals/catalog/shoe.jpg' }]));

    const outcome = await createInvalidateHandler(deps())(event);

    const invalidations = cloudFront.commandCalls(CreateInvalidationCommand).map((c) => c.args[0].input);
    expect(outcome).toEqual({
      deleted: 1,
      paths: ['/derived/catalog/shoe.jpg/*', '/derived/products/shoe.jpg/*'],
      invalidationId: 'I1',
    });
    expect(invalidations).toHaveLength(1);
    expect(invalidations[0]).toMatchObject({
      DistributionId: 'EDFDVBD6EXAMPLE',
      InvalidationBatch: { Paths: { Quantity: 2, Items: outcome.paths } },
    });
    expect(s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input.Delete?.Objects)).toEqual([
      [{ Key: 'derived/products/shoe.jpg/400x0-inside-q80-webp' }],
    ]);
  });

  it('deletes the stored variants before invalidating, so a miss after the invalidation finds none', async () => {
    const order: string[] = [];
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'derived/a.jpg/80x0-inside-q80-webp' }] });
    s3.on(DeleteObjectsCommand).callsFake(() => {
      order.push('delete');
      return {};
    });
    cloudFront.on(CreateInvalidationCommand).callsFake(() => {
      order.push('invalidate');
      return { Invalidation: { Id: 'I3' } };
    });

    await invalidateOriginals(
      originalChanges(s3Notification([{ bucket: BUCKET, key: 'originals/a.jpg' }])),
      'b',
      deps(),
    );

    expect(order).toEqual(['delete', 'invalidate']);
  });

  it('never takes a derived object for an original, even under a catch-all route with no prefix', async () => {
    const catchAll = testConfig({ routes: [{ match: '', bucket: BUCKET, keyPrefix: '' }] });
    const change = originalChanges(
      s3Notification([
        { bucket: BUCKET, key: 'derived/a.jpg/80x0-inside-q80-webp', eventName: 'ObjectRemoved:Delete' },
      ]),
    );

    const outcome = await invalidateOriginals(change, 'b', { ...deps(), config: catchAll });

    expect(outcome).toEqual({ deleted: 0, paths: [], invalidationId: undefined });
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
  });

  it('gives a redelivered batch the same CallerReference, another batch another one', async () => {
    s3.on(ListObjectsV2Command).resolves({});
    cloudFront.on(CreateInvalidationCommand).resolves({ Invalidation: { Id: 'I1' } as never });
    const change = s3Notification([{ bucket: BUCKET, key: 'originals/a.jpg' }]);
    const handler = createInvalidateHandler(deps());

    await handler(sqsEvent(change));
    await handler(sqsEvent(change));
    await handler(sqsEvent(S3_TEST_EVENT, change));

    const references = cloudFront
      .commandCalls(CreateInvalidationCommand)
      .map((c) => c.args[0].input.InvalidationBatch?.CallerReference);
    expect(references[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(references[1]).toBe(references[0]);
    expect(references[2]).not.toBe(references[0]);
  });

  it('fails the batch on TooManyInvalidationsInProgress, so SQS redelivers it after its visibility timeout', async () => {
    s3.on(ListObjectsV2Command).resolves({});
    cloudFront.on(CreateInvalidationCommand).rejects(
      new TooManyInvalidationsInProgress({
        message:
          'Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations.',
        $metadata: {},
      }),
    );

    const outcome = createInvalidateHandler(deps())(
      sqsEvent(s3Notification([{ bucket: BUCKET, key: 'originals/a.jpg' }])),
    );

    await expect(outcome).rejects.toBeInstanceOf(TooManyInvalidationsInProgress);
  });

  it('drops the S3 test event and unreadable messages with a log line, invalidating nothing', async () => {
    const logs: Array<Record<string, unknown>> = [];

    const outcome = await createInvalidateHandler(deps(logs))(sqsEvent(S3_TEST_EVENT, 'not json'));

    expect(outcome).toEqual({ deleted: 0, paths: [], invalidationId: undefined });
    expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(0);
    expect(logs).toEqual([
      { level: 'info', code: 'Invalidate.Ignored', reason: 'no object change', messageId: 'm-0' },
      { level: 'warn', code: 'Invalidate.Ignored', reason: 'not JSON', messageId: 'm-1' },
    ]);
  });

  it('merges a bulk re-upload into few wildcard paths: one invalidation per batch, within the quota', async () => {
    s3.on(ListObjectsV2Command).resolves({});
    cloudFront.on(CreateInvalidationCommand).resolves({ Invalidation: { Id: 'I2' } as never });
    const bulk = Array.from({ length: 40 }, (_, i) => ({
      bucket: BUCKET,
      key: `originals/catalog/item-${i}.jpg`,
    }));

    const outcome = await invalidateOriginals(originalChanges(s3Notification(bulk)), 'batch', deps());

    // 80 public paths (each reachable as products/… and catalog/…): one common prefix.
    expect(outcome.paths).toEqual(['/derived/*']);
    expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(1);
  });
});
