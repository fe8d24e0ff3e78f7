import type { CloudFrontResponse, CloudFrontResultResponse } from 'aws-lambda';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { bundleSize, HANDLERS } from '../build/bundle.ts';
import {
  originResponseEvent,
  s3ErrorResponse,
  s3ObjectResponse,
  viewerRequest,
  viewerRequestEvent,
} from '../local/cloudfront-events.ts';
import { assertLambdaResultConforms, invokeAtEdge } from '../local/conformance.ts';
import { replaceReceivedResponse } from '../src/handlers/cloudfront.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { createViewerRequestHandler } from '../src/handlers/viewer-request.ts';
import { MAX_GENERATED_BODY_BYTES } from '../src/http.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { testConfig } from './support/config.ts';
import { fixtures } from './support/fixtures.ts';
import { MemoryStore } from './support/memory-store.ts';

const config = testConfig({ signing: undefined });

function viewerEvent(uri: string, querystring: string, accept?: string) {
  return viewerRequestEvent(viewerRequest(uri, querystring, accept ? { Accept: accept } : {}));
}

/** What S3 answers through OAC: its real error response for a missing key, or the stored object. */
function originEvent(uri: string, status: '200' | '403' | '404') {
  const response: CloudFrontResponse =
    status === '200'
      ? s3ObjectResponse({ contentLength: 1234, contentType: 'image/webp' })
      : s3ErrorResponse(status);
  return originResponseEvent({ ...viewerRequest(uri), headers: {} }, response);
}

// Every result goes through CloudFront's validation, as it would at the edge (local/conformance.ts).
describe('viewer-request handler', () => {
  const viewerRequestHandler = createViewerRequestHandler(config);
  const handler = (event: ReturnType<typeof viewerEvent>) => invokeAtEdge(viewerRequestHandler, event);

  it('rewrites the URI to the derived key and drops the query string', async () => {
    const result = await handler(
      viewerEvent('/800x/products/shoe.jpg', 'q=70&utm_source=mail', 'image/avif,image/webp,*/*'),
    );

    expect(result).toMatchObject({
      uri: '/derived/products/shoe.jpg/800x0-inside-q70-avif',
      querystring: '',
    });
  });

  it('answers a bad URL itself with a 400 the viewer can read', async () => {
    const result = await handler(viewerEvent('/799x/a.jpg', ''));

    expect(result).toMatchObject({
      status: '400',
      statusDescription: 'Bad Request',
      bodyEncoding: 'text',
      headers: { 'content-type': [{ key: 'Content-Type', value: 'application/json' }] },
    });
    expect(JSON.parse((result as { body: string }).body)).toMatchObject({ error: { code: 'Url.BadSize' } });
  });

  it('answers 400, not 500, for a lone surrogate in the URI', async () => {
    const result = await handler(viewerEvent('/800x/a\uD800.jpg', ''));

    expect(result).toMatchObject({ status: '400' });
    expect(JSON.parse((result as { body: string }).body)).toMatchObject({
      error: { code: 'Url.BadEncoding' },
    });
  });

  it('bundles to at most 20 KB (it runs on every request, before the cache)', async () => {
    const bytes = await bundleSize(HANDLERS.viewerRequest);

    expect(bytes).toBeLessThanOrEqual(20 * 1024);
  });
});

describe('origin-response handler', () => {
  function setup() {
    const store = new MemoryStore();
    const originResponseHandler = createOriginResponseHandler({
      config,
      store,
      limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 3 }),
      log: () => {},
    });
    const handler = (event: ReturnType<typeof originEvent>) => invokeAtEdge(originResponseHandler, event);
    return { store, handler };
  }

  it('passes a stored derived image through untouched', async () => {
    const { handler } = setup();
    const event = originEvent('/derived/a.jpg/400x0-inside-q80-webp', '200');

    expect(await handler(event)).toEqual(event.Records[0]?.cf.response);
  });

  it('passes through responses for URIs outside the derived namespace', async () => {
    const { handler } = setup();
    const event = originEvent('/robots.txt', '404');

    expect(await handler(event)).toEqual(event.Records[0]?.cf.response);
  });

  it('generates the image on a 403 miss, base64 in the response', async () => {
    const { handler, store } = setup();
    store.put({ bucket: config.derived.bucket, key: 'originals/catalog/shoe.jpg' }, await fixtures.jpeg());

    const result = await handler(originEvent('/derived/products/shoe.jpg/400x0-inside-q80-webp', '403'));

    expect(result).toMatchObject({
      status: '200',
      bodyEncoding: 'base64',
      headers: { 'content-type': [{ key: 'Content-Type', value: 'image/webp' }] },
    });
    const image = await sharp(Buffer.from(result?.body ?? '', 'base64')).metadata();
    expect(image).toMatchObject({ format: 'webp', width: 400 });
  });

  it('writes the generated image into the received S3 error response, keeping its read-only headers', async () => {
    const { handler, store } = setup();
    store.put({ bucket: config.derived.bucket, key: 'originals/a.jpg' }, await fixtures.jpeg());
    const event = originEvent('/derived/a.jpg/400x0-inside-q80-webp', '403');
    const received = structuredClone(event.Records[0]?.cf.response) as CloudFrontResponse;

    const result = (await handler(event)) as CloudFrontResultResponse;

    expect(result.status).toBe('200');
    // CloudFront refuses (502) a result that deletes or changes these (serverless-express#369).
    expect(result.headers?.['transfer-encoding']).toEqual(received.headers['transfer-encoding']);
    expect(result.headers?.['content-type']).toEqual([{ key: 'Content-Type', value: 'image/webp' }]);
    expect(result.headers?.['content-length']).toBeUndefined();
    expect(result.headers?.['x-amz-request-id']).toEqual(received.headers['x-amz-request-id']);
  });

  it('keeps the read-only headers when it answers with an error too', async () => {
    const { handler } = setup();
    const event = originEvent('/derived/none.jpg/400x0-inside-q80-webp', '404');
    const received = structuredClone(event.Records[0]?.cf.response) as CloudFrontResponse;

    const result = (await handler(event)) as CloudFrontResultResponse;

    expect(result.status).toBe('404');
    expect(result.headers?.['transfer-encoding']).toEqual(received.headers['transfer-encoding']);
    expect(JSON.parse(result.body ?? '')).toEqual({
      error: { code: 'Origin.NotFound', message: 'original image not found' },
    });
  });

  it('leaves no trace of the S3 error body on a redirect: no XML content type, an empty body', () => {
    const response = s3ErrorResponse('403');

    const result = replaceReceivedResponse(response, {
      status: 302,
      headers: { location: '/derived/a.png/1920x0-inside-q90-png?sig=0', 'cache-control': 'no-store' },
    });

    expect(result).toMatchObject({ status: '302', body: '', bodyEncoding: 'text' });
    expect(Object.keys(result.headers ?? {}).sort()).toEqual([
      'cache-control',
      'date',
      'location',
      'server',
      'transfer-encoding',
      'x-amz-id-2',
      'x-amz-request-id',
    ]);
  });

  it('keeps the largest image it returns inline within the 1 MB cap, with the S3 headers kept', () => {
    const event = originEvent('/derived/a.png/1920x0-inside-q90-png', '403');
    const response = structuredClone(event.Records[0]?.cf.response) as CloudFrontResponse;

    const result = replaceReceivedResponse(response, {
      status: 200,
      headers: { 'content-type': 'image/png', 'cache-control': 'public, max-age=31536000, immutable' },
      body: Buffer.alloc(MAX_GENERATED_BODY_BYTES),
    });

    expect(() => assertLambdaResultConforms(event, result)).not.toThrow();
  });

  it('answers a missing original with a 404 cached briefly', async () => {
    const { handler } = setup();

    const result = await handler(originEvent('/derived/none.jpg/400x0-inside-q80-webp', '404'));

    expect(result).toMatchObject({
      status: '404',
      headers: { 'cache-control': [{ key: 'Cache-Control', value: 'public, max-age=60' }] },
    });
  });

  it('answers 503 with Retry-After when the resize bound is reached', async () => {
    const { handler, store } = setup();
    store.put({ bucket: config.derived.bucket, key: 'originals/a.jpg' }, await fixtures.jpeg());
    const uri = '/derived/a.jpg/400x0-inside-q80-jpeg';

    const [first, second] = await Promise.all([
      handler(originEvent(uri, '403')),
      handler(originEvent(uri, '403')),
    ]);

    expect(first).toMatchObject({ status: '200' });
    expect(second).toMatchObject({
      status: '503',
      headers: {
        'retry-after': [{ key: 'Retry-After', value: '3' }],
        'cache-control': [{ key: 'Cache-Control', value: 'public, max-age=3' }],
      },
    });
  });

  it('answers an unexpected bug with a 500 that is never cached', async () => {
    const store = new MemoryStore();
    store.getOriginal = () => Promise.reject(new TypeError('boom'));
    const handler = createOriginResponseHandler({
      config,
      store,
      limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 3 }),
      log: () => {},
    });

    const result = await invokeAtEdge(handler, originEvent('/derived/a.jpg/400x0-inside-q80-jpeg', '403'));

    expect(result).toMatchObject({ status: '500', headers: { 'cache-control': [{ value: 'no-store' }] } });
  });
});
