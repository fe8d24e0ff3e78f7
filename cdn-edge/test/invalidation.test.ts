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

  it('reads an original an S3 Lifecycle rule expired, which S3 announces as LifecycleExpiration, not ObjectRemoved', () => {
    // Prepare: the record of AWS's published s3:LifecycleExpiration:Delete sample ("Configuring S3
    // Lifecycle event notifications", S3 User Guide), in this bucket.
    const message = {
      Records: [
        {
          eventVersion: '2.3',
          eventSource: 'aws:s3',
          awsRegion: 'us-west-2',
          eventTime: '1970-01-01T00:00:00.000Z',
          eventName: 'LifecycleExpiration:Delete',
          userIdentity: { principalId: 's3.amazonaws.com' },
          requestParameters: { sourceIPAddress: 's3.amazonaws.com' },
          s3: {
            s3SchemaVersion: '1.0',
            configurationId: 'testConfigRule',
            bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
            object: { key: 'originals/expiration/delete.jpg', sequencer: '0055AED6DCD90281E5' },
          },
        },
        ...(s3Notification([
          { bucket: BUCKET, key: 'originals/b.jpg', eventName: 'LifecycleExpiration:DeleteMarkerCreated' },
        ]).Records as unknown[]),
      ],
    };

    // Act
    const changes = originalChanges(message);

    // Assess
    expect(changes).toEqual([
      { bucket: BUCKET, key: 'originals/expiration/delete.jpg', eventName: 'LifecycleExpiration:Delete' },
      { bucket: BUCKET, key: 'originals/b.jpg', eventName: 'LifecycleExpiration:DeleteMarkerCreated' },
    ]);
  });

  it('finds no change in the test event, in other event types or in malformed records', () => {
    const others = s3Notification([
      { bucket: BUCKET, key: 'a.jpg', eventName: 'ObjectRestore:Completed' },
      { bucket: BUCKET, key: 'a.jpg', eventName: 'LifecycleTransition' },
      { bucket: BUCKET, key: '%E0%A4%A.jpg' },
    ]);
    const malformed = { Records: [null, { eventName: 'ObjectCreated:Put', s3: { bucket: {} } }] };

    expect(originalChanges(S3_TEST_EVENT)).toEqual([]);
    expect(originalChanges(others)).toEqual([]);
    expect(originalChanges(malformed)).toEqual([]);
    expect(originalChanges(null)).toEqual([]);
  });
  it('skips a record without its bucket or its key, keeping the other changes of the message', () => {
    const valid = s3Notification([{ bucket: BUCKET, key: 'originals/a.jpg' }]).Records as unknown[];
    const message = {
      Records: [
        { eventName: 'ObjectCreated:Put', s3: { object: { key: 'originals/b.jpg' } } },
        { eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { size: 1 } } },
        { eventName: 'ObjectRemoved:Delete', s3: { bucket: { name: BUCKET } } },
        ...valid,
      ],
    };

    expect(originalChanges(message)).toEqual([
      { bucket: BUCKET, key: 'originals/a.jpg', eventName: 'ObjectCreated:Put' },
    ]);
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
  it('drops a candidate that a longer route sends to the same key in another bucket', () => {
    // `a/x.jpg` in this bucket is shadowed: the path `a/x.jpg` reads the other bucket's object.
    const routes = [
      { match: 'a/', bucket: 'another-bucket', keyPrefix: 'a/' },
      { match: '', bucket: BUCKET, keyPrefix: '' },
    ];

    expect(publicPathsOf(BUCKET, 'a/x.jpg', routes)).toEqual([]);
    expect(publicPathsOf('another-bucket', 'a/x.jpg', routes)).toEqual(['a/x.jpg']);
  });

  it('names each path once, even where a route of another key prefix or bucket could also spell it', () => {
    // `p/z/1.jpg` and `q/z/1.jpg` read `b/z/1.jpg` through the longest routes; `p/` (another key
    // prefix) and `q/` (another bucket), read backwards regardless, would spell each a second time.
    const routes = [
      { match: 'p/', bucket: BUCKET, keyPrefix: 'a/' },
      { match: 'p/z/', bucket: BUCKET, keyPrefix: 'b/z/' },
      { match: 'q/', bucket: 'another-bucket', keyPrefix: 'b/' },
      { match: 'q/z/', bucket: BUCKET, keyPrefix: 'b/z/' },
    ];

    expect(publicPathsOf(BUCKET, 'b/z/1.jpg', routes)).toEqual(['p/z/1.jpg', 'q/z/1.jpg']);
  });
});

describe('invalidationPaths', () => {
  it('names one wildcard per original, percent-encoded as in the cache key', () => {
    expect(invalidationPaths(['products/shoe.jpg', 'a b/é.jpg', 'products/shoe.jpg'], config, 5)).toEqual([
      '/derived/products/shoe.jpg/*',
      '/derived/a%20b/%C3%A9.jpg/*',
    ]);
  });

  it('keeps one wildcard per original up to exactly the allowed number', () => {
    expect(invalidationPaths(['a.jpg', 'b.jpg'], config, 2)).toEqual([
      '/derived/a.jpg/*',
      '/derived/b.jpg/*',
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

  it('says the code is unknown when S3 reports a failed key without one', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'derived/a.jpg/80x0-inside-q80-webp' }] });
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: 'derived/a.jpg/80x0-inside-q80-webp' }] });

    const outcome = deleteVariants(new S3Client({ region: 'us-east-1' }), 'media', 'derived/a.jpg/', 10);

    await expect(outcome).rejects.toMatchObject({
      message: 'S3 could not delete 1 variant(s) under derived/a.jpg/ (unknown)',
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

  it('takes an object of another bucket for an original even when its key starts like a derived key', async () => {
    const originalsBucket = testConfig({
      routes: [{ match: '', bucket: 'originals-bucket', keyPrefix: '' }],
    });
    s3.on(ListObjectsV2Command).resolves({});
    cloudFront.on(CreateInvalidationCommand).resolves({ Invalidation: { Id: 'I4' } as never });
    const change = originalChanges(s3Notification([{ bucket: 'originals-bucket', key: 'derived/x.jpg' }]));

    const outcome = await invalidateOriginals(change, 'b', { ...deps(), config: originalsBucket });

    expect(outcome).toEqual({ deleted: 0, paths: ['/derived/derived/x.jpg/*'], invalidationId: 'I4' });
  });

  it('logs how many originals and variants it handled, the paths and the invalidation id', async () => {
    const logs: Array<Record<string, unknown>> = [];
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'derived/logo.png/80x0-inside-q80-webp' }] });
    s3.on(DeleteObjectsCommand).resolves({});
    cloudFront.on(CreateInvalidationCommand).resolves({ Invalidation: { Id: 'I5' } as never });

    await invalidateOriginals(
      originalChanges(s3Notification([{ bucket: BUCKET, key: 'originals/logo.png' }])),
      'b',
      deps(logs),
    );

    expect(logs).toEqual([
      {
        level: 'info',
        code: 'Invalidate.Done',
        originals: 1,
        deleted: 1,
        paths: ['/derived/logo.png/*'],
        invalidationId: 'I5',
      },
    ]);
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
