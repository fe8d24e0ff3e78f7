import type {
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResponse,
  CloudFrontResponseEvent,
} from 'aws-lambda';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { bundleSize, HANDLERS } from '../build/bundle.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { createViewerRequestHandler } from '../src/handlers/viewer-request.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { testConfig } from './support/config.ts';
import { fixtures } from './support/fixtures.ts';
import { MemoryStore } from './support/memory-store.ts';

const config = testConfig({ signing: undefined });
const cfConfig = {
  distributionDomainName: 'd111111abcdef8.cloudfront.net',
  distributionId: 'EDFDVBD6EXAMPLE',
  requestId: 'r-1',
};

function viewerEvent(uri: string, querystring: string, accept?: string): CloudFrontRequestEvent {
  const headers: CloudFrontRequest['headers'] = {
    host: [{ key: 'Host', value: cfConfig.distributionDomainName }],
  };
  if (accept) headers.accept = [{ key: 'Accept', value: accept }];
  return {
    Records: [
      {
        cf: {
          config: { ...cfConfig, eventType: 'viewer-request' },
          request: { clientIp: '203.0.113.178', method: 'GET', uri, querystring, headers },
        },
      },
    ],
  };
}

function originEvent(uri: string, status: string): CloudFrontResponseEvent {
  const response: CloudFrontResponse = {
    status,
    statusDescription: status === '403' ? 'Forbidden' : 'OK',
    headers: {},
  };
  return {
    Records: [
      {
        cf: {
          config: { ...cfConfig, eventType: 'origin-response' },
          request: { clientIp: '203.0.113.178', method: 'GET', uri, querystring: '', headers: {} },
          response,
        },
      },
    ],
  };
}

describe('viewer-request handler', () => {
  const handler = createViewerRequestHandler(config);

  it('rewrites the URI to the derived key and drops the query string', async () => {
    const result = await handler(
      viewerEvent('/800x/products/shoe.jpg', 'q=70&utm_source=mail', 'image/avif,image/webp,*/*'),
    );

    expect(result).toMatchObject({
      uri: '/derived/800x0/inside/q70/avif/products/shoe.jpg',
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

  it('bundles to at most 20 KB (it runs on every request, before the cache)', async () => {
    const bytes = await bundleSize(HANDLERS.viewerRequest);

    expect(bytes).toBeLessThanOrEqual(20 * 1024);
  });
});

describe('origin-response handler', () => {
  function setup() {
    const store = new MemoryStore();
    const handler = createOriginResponseHandler({
      config,
      store,
      limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 3 }),
      log: () => {},
    });
    return { store, handler };
  }

  it('passes a stored derived image through untouched', async () => {
    const { handler } = setup();
    const event = originEvent('/derived/400x0/inside/q80/webp/a.jpg', '200');

    expect(await handler(event)).toBe(event.Records[0]?.cf.response);
  });

  it('passes through responses for URIs outside the derived namespace', async () => {
    const { handler } = setup();
    const event = originEvent('/robots.txt', '404');

    expect(await handler(event)).toBe(event.Records[0]?.cf.response);
  });

  it('generates the image on a 403 miss, base64 in the response', async () => {
    const { handler, store } = setup();
    store.put({ bucket: config.derived.bucket, key: 'originals/catalog/shoe.jpg' }, await fixtures.jpeg());

    const result = await handler(originEvent('/derived/400x0/inside/q80/webp/products/shoe.jpg', '403'));

    expect(result).toMatchObject({
      status: '200',
      bodyEncoding: 'base64',
      headers: { 'content-type': [{ key: 'Content-Type', value: 'image/webp' }] },
    });
    const image = await sharp(Buffer.from(result?.body ?? '', 'base64')).metadata();
    expect(image).toMatchObject({ format: 'webp', width: 400 });
  });

  it('answers a missing original with a 404 cached briefly', async () => {
    const { handler } = setup();

    const result = await handler(originEvent('/derived/400x0/inside/q80/webp/none.jpg', '404'));

    expect(result).toMatchObject({
      status: '404',
      headers: { 'cache-control': [{ key: 'Cache-Control', value: 'public, max-age=60' }] },
    });
  });

  it('answers 503 with Retry-After when the resize bound is reached', async () => {
    const { handler, store } = setup();
    store.put({ bucket: config.derived.bucket, key: 'originals/a.jpg' }, await fixtures.jpeg());
    const uri = '/derived/400x0/inside/q80/jpeg/a.jpg';

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

    const result = await handler(originEvent('/derived/400x0/inside/q80/jpeg/a.jpg', '403'));

    expect(result).toMatchObject({ status: '500', headers: { 'cache-control': [{ value: 'no-store' }] } });
  });
});
