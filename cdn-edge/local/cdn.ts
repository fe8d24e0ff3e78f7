import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CloudFrontRequest, CloudFrontResponse, CloudFrontResultResponse, SQSEvent } from 'aws-lambda';
import S3rver, { type S3rverNotification } from 's3rver';
import sharp from 'sharp';
import type { EdgeConfig } from '../src/config.ts';
import { createInvalidateHandler } from '../src/handlers/invalidate.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { createViewerRequestHandler } from '../src/handlers/viewer-request.ts';
import type { InvalidationOutcome } from '../src/invalidation.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { signUrl } from '../src/signature.ts';
import { S3ImageStore } from '../src/storage.ts';
import { isDerivedUri } from '../src/url.ts';
import {
  cloudFrontHeaders,
  type Distribution,
  originResponseEvent,
  plainHeaders,
  s3ErrorBody,
  s3ErrorResponse,
  s3ObjectResponse,
  viewerRequestEvent,
} from './cloudfront-events.ts';
import { CloudFrontValidationError, invokeAtEdge, isDisallowedHeader } from './conformance.ts';
import { localConfig } from './dev-config.ts';
import { notificationKey } from './s3-notifications.ts';
import { S3rverVariantLister } from './s3rver-lister.ts';

/**
 * A loopback stand-in for CloudFront in front of S3, for demos and tests: viewer-request → cache →
 * S3 origin (s3rver) → origin-response, with the real handlers and CloudFront-shaped events.
 * It simulates; it is not CloudFront (no TLS, one cache, no request collapsing).
 */

export interface LocalCdnOptions {
  readonly config?: EdgeConfig;
  /** 0 or absent: any free port. */
  readonly port?: number;
  /** Sample originals to seed: key (relative to the catch-all route) → bytes. Defaults to generated ones. */
  readonly seed?: Readonly<Record<string, Buffer>>;
  readonly now?: () => number;
  /** Replaces the real handlers, e.g. to show what CloudFront does with a faulty one. */
  readonly handlers?: {
    readonly viewerRequest?: ReturnType<typeof createViewerRequestHandler>;
    readonly originResponse?: ReturnType<typeof createOriginResponseHandler>;
  };
}

export interface LocalCdn {
  readonly url: string;
  readonly s3: S3Client;
  readonly config: EdgeConfig;
  /** `pathAndQuery` with its signature, as the application rendering pages would write it. */
  signedPath(pathAndQuery: string): string;
  /** How many times origin-response generated an image (cache and S3 hits do not count). */
  readonly stats: { generated: number; cacheHits: number; originFetches: number };
  /** Empties the cache, as a request reaching another edge location would see it. */
  clearCache(): void;
  /**
   * Removes what a CloudFront invalidation with these paths removes: a path names one cache key
   * (the URI after viewer-request), or every key it begins when it ends with `*`. Throws, as
   * CloudFront refuses the request, for a path without a leading `/` or with `*` anywhere else.
   */
  invalidate(paths: readonly string[]): void;
  /** Every invalidation created so far (by the function or by hand), oldest first. */
  readonly invalidations: ReadonlyArray<readonly string[]>;
  /**
   * Runs the invalidation function once on the S3 notifications of originals received since the
   * last run, as one SQS batch, the way the queue delivers them on AWS.
   */
  processOriginalChanges(): Promise<InvalidationOutcome>;
  close(): Promise<void>;
}

interface CachedResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly expires: number;
}

const DISTRIBUTION: Distribution = {
  distributionDomainName: 'local.cloudfront.test',
  distributionId: 'ELOCALCDN',
};
const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Sample originals generated at startup, so no binary is committed. */
export async function sampleImages(): Promise<Record<string, Buffer>> {
  const width = 2400;
  const height = 1600;
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stop-color="#0b3d91"/><stop offset="1" stop-color="#f7b32b"/></linearGradient></defs>
      <rect width="100%" height="100%" fill="url(#g)"/>
      <circle cx="${width / 2}" cy="${height / 2}" r="${height / 3}" fill="#ffffff" fill-opacity="0.6"/>
      <text x="50%" y="54%" font-size="160" text-anchor="middle" font-family="sans-serif" fill="#222">Gantry</text>
    </svg>`,
  );
  const photo = await sharp(svg).jpeg({ quality: 85 }).toBuffer();
  const logo = await sharp({
    create: { width: 800, height: 800, channels: 4, background: { r: 200, g: 40, b: 40, alpha: 0.5 } },
  })
    .png()
    .toBuffer();
  return { 'sample.jpg': photo, 'logo.png': logo };
}

/** CloudFront keeps what Cache-Control allows; nothing when it says no-store/no-cache/private. */
function expiresAt(headers: Record<string, string>, now: number): number {
  const cc = headers['cache-control'] ?? '';
  if (/\b(no-store|no-cache|private)\b/.test(cc)) return 0;
  const age = /\bs-maxage=(\d+)/.exec(cc) ?? /\bmax-age=(\d+)/.exec(cc);
  return age?.[1] ? now + Number(age[1]) * 1000 : 0;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function indexPage(config: EdgeConfig, signedPath: (pathAndQuery: string) => string): string {
  const presets = Object.keys(config.presets);
  const imgs = [
    ...presets.map((p) => `/${p}/sample.jpg`),
    '/400x/sample.jpg',
    '/320x320/logo.png?fit=contain',
    '/800x/sample.jpg?q=60',
  ];
  return `<!doctype html><html><head><meta charset="utf-8"><title>Gantry local CDN</title>
<style>body{font-family:sans-serif;margin:2rem}figure{display:inline-block;margin:1rem;vertical-align:top}
img{border:1px solid #ccc;max-width:100%}</style></head><body>
<h1>Gantry local CDN (simulated CloudFront + S3)</h1>
<p>Each image is resized on first request by the origin-response handler, then served from the cache.</p>
${imgs.map((src) => `<figure><img src="${escapeHtml(signedPath(src))}" alt="${src}"><figcaption><code>${src}</code> (signed)</figcaption></figure>`).join('\n')}
</body></html>`;
}

/** Starts the local CDN on 127.0.0.1 with s3rver as the S3 origin, seeded with sample images. */
export async function startLocalCdn(options: LocalCdnOptions = {}): Promise<LocalCdn> {
  const config = options.config ?? localConfig();
  const signedPath = (pathAndQuery: string): string =>
    config.signing ? signUrl(pathAndQuery, { ...config, signing: config.signing }) : pathAndQuery;
  const now = options.now ?? Date.now;
  const directory = await mkdtemp(join(tmpdir(), 'gantry-edge-s3-'));
  const buckets = new Set([config.derived.bucket, ...config.routes.map((r) => r.bucket)]);
  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [...buckets].map((name) => ({ name })),
  });
  // S3 event notifications of the originals, as the buckets' notification configuration would
  // filter them (one prefix per route) and the queue would hold them until the function runs.
  const pendingNotifications: unknown[] = [];
  s3rver.on('event', (notification: S3rverNotification) => {
    const record = notification.Records[0];
    if (!record) return;
    const { bucket, object } = record.s3;
    if (!config.routes.some((r) => r.bucket === bucket.name && object.key.startsWith(r.keyPrefix))) return;
    object.key = notificationKey(object.key);
    pendingNotifications.push(notification);
  });
  const { port: s3Port } = await s3rver.run();
  const s3 = new S3Client({
    region: config.derived.region,
    endpoint: `http://127.0.0.1:${s3Port}`,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
  });

  const catchAll = config.routes.find((r) => r.match === '') ?? config.routes[0];
  if (!catchAll) throw new Error('config has no routes');
  for (const [key, body] of Object.entries(options.seed ?? (await sampleImages()))) {
    await s3.send(
      new PutObjectCommand({ Bucket: catchAll.bucket, Key: `${catchAll.keyPrefix}${key}`, Body: body }),
    );
  }
  // The seed is the starting state, not a change.
  pendingNotifications.length = 0;

  const stats = { generated: 0, cacheHits: 0, originFetches: 0 };
  const viewerRequest = options.handlers?.viewerRequest ?? createViewerRequestHandler(config);
  const originResponse =
    options.handlers?.originResponse ??
    createOriginResponseHandler({
      config,
      store: new S3ImageStore(s3, { retryAfterSeconds: config.limits.retryAfterSeconds }),
      limiter: new ResizeLimiter({
        maxConcurrent: config.limits.maxConcurrentResizes,
        maxQueued: config.limits.maxQueuedResizes,
        retryAfterSeconds: config.limits.retryAfterSeconds,
      }),
      log: () => {},
      // The same budget as on AWS: counted in the (s3rver) derived bucket, on the CDN's clock.
      variants: new S3rverVariantLister(s3),
      now,
    });
  const cache = new Map<string, CachedResponse>();
  let requestCounter = 0;
  const invalidations: Array<readonly string[]> = [];

  function invalidate(paths: readonly string[]): void {
    for (const path of paths) {
      const star = path.indexOf('*');
      // A path starts with "/" and the * wildcard may only be its last character ("What you need
      // to know when invalidating paths" › Invalidation paths, CloudFront Developer Guide).
      if (!path.startsWith('/') || (star !== -1 && star !== path.length - 1)) {
        throw new Error(`CloudFront refuses the invalidation path ${JSON.stringify(path)}`);
      }
    }
    invalidations.push([...paths]);
    for (const key of [...cache.keys()]) {
      const named = paths.some((path) =>
        path.endsWith('*') ? key.startsWith(path.slice(0, -1)) : key === path,
      );
      if (named) cache.delete(key);
    }
  }

  const invalidateFunction = createInvalidateHandler({
    config,
    s3,
    invalidator: {
      async createInvalidation(paths) {
        invalidate(paths);
        return `ILOCAL${invalidations.length}`;
      },
    },
    log: () => {},
  });
  let messageCounter = 0;

  async function processOriginalChanges(): Promise<InvalidationOutcome> {
    const batch = pendingNotifications.splice(0);
    // Only what the function reads of an SQS record matters here; the rest is filled as SQS does.
    const event = {
      Records: batch.map((notification) => ({
        messageId: `local-message-${++messageCounter}`,
        body: JSON.stringify(notification),
      })),
    } as SQSEvent;
    return invalidateFunction(event);
  }

  /** The S3 origin as CloudFront sees it through OAC: a missing key is a 403 (no s3:ListBucket). */
  async function fetchOrigin(uri: string): Promise<{ response: CloudFrontResponse; body: Buffer }> {
    stats.originFetches += 1;
    const key = decodeURIComponent(uri.slice(1));
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: config.derived.bucket, Key: key }));
      const body = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
      const meta: Parameters<typeof s3ObjectResponse>[0] = { contentLength: body.byteLength };
      if (object.ContentType) meta.contentType = object.ContentType;
      if (object.CacheControl) meta.cacheControl = object.CacheControl;
      if (object.ETag) meta.etag = object.ETag;
      if (object.Metadata) meta.metadata = object.Metadata;
      return { response: s3ObjectResponse(meta, now()), body };
    } catch {
      return { response: s3ErrorResponse('403', now()), body: Buffer.from(s3ErrorBody('403')) };
    }
  }

  async function serve(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const target = new URL(req.url ?? '/', 'http://local');
    if (target.pathname === '/' || target.pathname === '/index.html') {
      return {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: Buffer.from(indexPage(config, signedPath)),
      };
    }
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    // The stack's two cache behaviors (serverless.yml), picked by the viewer's path: public URLs
    // have a response headers policy adding `Vary: Accept` (their format is negotiated), derived/*
    // has none. CloudFront applies it to what it serves from its cache or from the origin.
    const policyHeaders: Record<string, string> = isDerivedUri(rawPath, config) ? {} : { vary: 'Accept' };
    const requestId = `local-${++requestCounter}`;
    const headers: Record<string, string> = {};
    // CloudFront does not show disallowed headers (Connection, …) to functions.
    for (const [name, value] of Object.entries(req.headers))
      if (typeof value === 'string' && !isDisallowedHeader(name)) headers[name] = value;
    const request: CloudFrontRequest = {
      clientIp: req.socket.remoteAddress ?? '127.0.0.1',
      method: req.method ?? 'GET',
      uri: rawPath,
      querystring: target.search.slice(1),
      headers: cloudFrontHeaders(headers),
    };
    const viewerResult = await invokeAtEdge(
      viewerRequest,
      viewerRequestEvent(request, { distribution: DISTRIBUTION, requestId }),
    );
    if (viewerResult && 'status' in viewerResult) return fromResult(viewerResult);
    if (!viewerResult || !('uri' in viewerResult)) throw new Error('viewer-request returned nothing');

    const cacheKey = viewerResult.uri;
    const cached = cache.get(cacheKey);
    if (cached && cached.expires > now()) {
      stats.cacheHits += 1;
      return {
        status: cached.status,
        headers: { ...cached.headers, ...policyHeaders, 'x-cache': 'Hit from local' },
        body: cached.body,
      };
    }
    const origin = await fetchOrigin(cacheKey);
    const originRequest: CloudFrontRequest = {
      ...viewerResult,
      origin: {
        s3: {
          authMethod: 'origin-access-identity',
          customHeaders: {},
          domainName: `${config.derived.bucket}.s3.${config.derived.region}.amazonaws.com`,
          path: '',
          region: config.derived.region,
        },
      },
    };
    const result = await invokeAtEdge(
      originResponse,
      originResponseEvent(originRequest, origin.response, { distribution: DISTRIBUTION, requestId }),
    );
    if (!result) throw new Error('origin-response returned nothing');
    // An unset body means "the origin's body" ("Update HTTP responses in origin response triggers").
    const generated = result.body !== undefined;
    const final = fromResult(result, generated ? undefined : origin.body);
    if (generated) stats.generated += 1;
    const expires = expiresAt(final.headers, now());
    if (expires > 0) cache.set(cacheKey, { ...final, expires });
    return { ...final, headers: { ...final.headers, ...policyHeaders, 'x-cache': 'Miss from local' } };
  }

  function fromResult(
    result: CloudFrontResultResponse,
    originBody?: Buffer,
  ): {
    status: number;
    headers: Record<string, string>;
    body: Buffer;
  } {
    const body =
      result.body === undefined
        ? (originBody ?? Buffer.alloc(0))
        : Buffer.from(result.body, result.bodyEncoding === 'base64' ? 'base64' : 'utf8');
    return { status: Number(result.status), headers: plainHeaders(result.headers), body };
  }

  /**
   * CloudFront's answer to a function result that fails its validation: its 502 error page with
   * the reason ("502 ERROR … The Lambda function returned invalid …", as quoted in
   * aws-samples/react-ssr-lambda#28), never cached.
   */
  function validationFailure(error: CloudFrontValidationError) {
    return {
      status: 502,
      headers: { 'content-type': 'text/html', 'x-cache': 'Error from local' },
      body: Buffer.from(
        `<html><body><h1>502 ERROR</h1><p>The Lambda function result failed validation: ${escapeHtml(
          error.violations.map((v) => v.message).join('; '),
        )}</p></body></html>`,
      ),
    };
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    serve(req)
      .catch((error: unknown) => {
        if (error instanceof CloudFrontValidationError) return validationFailure(error);
        throw error;
      })
      .then(
        ({ status, headers, body }) => {
          // transfer-encoding framed the origin's connection (hop-by-hop, RFC 9110 §7.6.1); this
          // connection is framed by its own content-length.
          const endToEnd: Record<string, string> = { ...headers, 'content-length': String(body.byteLength) };
          delete endToEnd['transfer-encoding'];
          res.writeHead(status, endToEnd);
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => {
          console.error('local CDN error:', error);
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('local CDN error');
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    s3,
    config,
    signedPath,
    stats,
    clearCache: () => cache.clear(),
    invalidate,
    invalidations,
    processOriginalChanges,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      s3.destroy();
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
