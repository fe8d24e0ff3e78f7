import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import sharp, { type Sharp } from 'sharp';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { pureGrain, syntheticPhoto } from '../bench/synthetic.ts';
import { originResponseEvent, s3ErrorResponse, viewerRequest } from '../local/cloudfront-events.ts';
import { invokeAtEdge } from '../local/conformance.ts';
import { parseEdgeConfig } from '../src/config.ts';
import { shippedConfigWith } from '../src/edge-config.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { MAX_GENERATED_BODY_BYTES } from '../src/http.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { avifEffortFor, type FitBounds, fitQualities, resizeImage } from '../src/resize.ts';
import { generateDerived, QUALITY_HEADER } from '../src/service.ts';
import { S3ImageStore } from '../src/storage.ts';
import { type DerivedRequest, derivedKey, derivedUri } from '../src/url.ts';
import { TEST_SIGNING_SECRET, testConfig } from './support/config.ts';
import { errorOf } from './support/errors.ts';
import { MemoryStore } from './support/memory-store.ts';

const QUALITIES = [50, 60, 70, 80, 90];
const bounds = (over: Partial<FitBounds> = {}): FitBounds => ({
  maxBytes: MAX_GENERATED_BODY_BYTES,
  qualities: QUALITIES,
  minQuality: 60,
  maxReencodes: 2,
  ...over,
});
const request = (over: Partial<DerivedRequest> = {}): DerivedRequest => ({
  width: 1920,
  height: 0,
  fit: 'inside',
  quality: 90,
  format: 'jpeg',
  path: 'photo.jpg',
  ...over,
});

let photo: Buffer;
beforeAll(async () => {
  photo = await syntheticPhoto();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('fitQualities', () => {
  it('steps down through the allowed qualities below the asked one', () => {
    expect(fitQualities(80, bounds())).toEqual([70, 60]);
  });

  it('keeps the lowest allowed quality as the last try when there are more steps than re-encodes', () => {
    expect(fitQualities(90, bounds())).toEqual([80, 60]);
    expect(fitQualities(90, bounds({ maxReencodes: 1 }))).toEqual([60]);
  });

  it('never goes below minQuality, nor tries anything at or below it when asked for it', () => {
    expect(fitQualities(70, bounds({ minQuality: 70 }))).toEqual([]);
    expect(fitQualities(60, bounds())).toEqual([]);
    expect(fitQualities(50, bounds())).toEqual([]);
  });

  it('tries nothing when re-encodes are off', () => {
    expect(fitQualities(90, bounds({ maxReencodes: 0 }))).toEqual([]);
  });

  it('only tries qualities of the URL contract, so a lowered variant is a real one', () => {
    expect(fitQualities(90, bounds({ qualities: [90, 75, 75, 65], maxReencodes: 4 }))).toEqual([75, 65]);
  });
});

describe('avifEffortFor', () => {
  const avif = { effort: 2, reducedEffort: 0, maxFullEffortPixels: 1_048_576 };

  it('keeps the full effort up to maxFullEffortPixels and reduces it above', () => {
    expect(avifEffortFor(1_048_576, avif)).toBe(2);
    expect(avifEffortFor(1_048_577, avif)).toBe(0);
  });

  it('uses effort 2 when no bound is configured', () => {
    expect(avifEffortFor(10_000_000, undefined)).toBe(2);
  });
});

describe('resizeImage fitting a lossy result under the cap', () => {
  it('lowers the quality until the result fits, and says which quality it used', async () => {
    const image = await resizeImage(photo, request({ quality: 90 }), { maxInputPixels: 4e7, fit: bounds() });

    expect(image).toMatchObject({ contentType: 'image/jpeg', quality: 80, reencodes: 1, width: 1920 });
    expect(image.body.byteLength).toBeLessThanOrEqual(MAX_GENERATED_BODY_BYTES);
  });

  it('keeps a lowered result of exactly maxBytes', async () => {
    const atEighty = await resizeImage(photo, request({ quality: 80 }), { maxInputPixels: 4e7 });
    const exact = bounds({ maxBytes: atEighty.body.byteLength });

    const image = await resizeImage(photo, request({ quality: 90 }), { maxInputPixels: 4e7, fit: exact });

    expect(image).toMatchObject({ quality: 80, reencodes: 1 });
  });

  it('gives back the same bytes as a request asking for the quality it used', async () => {
    const fitted = await resizeImage(photo, request({ quality: 90 }), { maxInputPixels: 4e7, fit: bounds() });
    const asked = await resizeImage(photo, request({ quality: 80 }), { maxInputPixels: 4e7 });

    expect(fitted.body.equals(asked.body)).toBe(true);
  });

  it('keeps the asked quality when nothing within the bounds fits, after at most maxReencodes tries', async () => {
    const tight = bounds({ maxBytes: 1000 });
    const encode = vi.spyOn(sharp.prototype as Sharp, 'jpeg');

    const image = await resizeImage(photo, request({ quality: 90 }), { maxInputPixels: 4e7, fit: tight });

    expect(image).toMatchObject({ quality: 90, reencodes: 2 });
    expect(encode.mock.calls.map(([options]) => options?.quality)).toEqual([90, 80, 60]);
  });

  it('encodes once when the result fits at the asked quality', async () => {
    const encode = vi.spyOn(sharp.prototype as Sharp, 'webp');

    const image = await resizeImage(photo, request({ quality: 80, format: 'webp', width: 640 }), {
      maxInputPixels: 4e7,
      fit: bounds(),
    });

    expect(image).toMatchObject({ quality: 80, reencodes: 0, contentType: 'image/webp' });
    expect(encode).toHaveBeenCalledTimes(1);
  });

  it('never re-encodes a PNG (lossless: a lower quality would change nothing)', async () => {
    const encode = vi.spyOn(sharp.prototype as Sharp, 'png');

    const image = await resizeImage(photo, request({ format: 'png', width: 640 }), {
      maxInputPixels: 4e7,
      fit: bounds({ maxBytes: 1000 }),
    });

    expect(image.contentType).toBe('image/png');
    expect(image.quality).toBeUndefined();
    expect(encode).toHaveBeenCalledTimes(1);
  });

  it('encodes a large AVIF at the reduced effort and a small one at the full effort', async () => {
    const encode = vi.spyOn(sharp.prototype as Sharp, 'avif');
    const avif = { effort: 2, reducedEffort: 0, maxFullEffortPixels: 1_048_576 };

    await resizeImage(photo, request({ format: 'avif', width: 640, quality: 60 }), {
      maxInputPixels: 4e7,
      avif,
    });
    await resizeImage(photo, request({ format: 'avif', width: 1280, quality: 60 }), {
      maxInputPixels: 4e7,
      avif,
    });

    expect(encode.mock.calls.map(([options]) => options?.effort)).toEqual([2, 0]);
  });
});

describe('generateDerived with quality fitting', () => {
  function setup(config = testConfig()) {
    const store = new MemoryStore();
    store.put({ bucket: config.derived.bucket, key: 'originals/photo.jpg' }, photo);
    const logs: Array<Record<string, unknown>> = [];
    const deps = {
      config,
      store,
      limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 2 }),
      log: (entry: Record<string, unknown>) => logs.push(entry),
    };
    return { config, store, logs, deps };
  }

  it('returns inline, at a lower quality named in a header, what it would have redirected', async () => {
    const { config, store, logs, deps } = setup();
    const asked = request({ quality: 90 });

    const response = await generateDerived(derivedUri(asked, config), deps);

    expect(response.status).toBe(200);
    expect(response.headers[QUALITY_HEADER]).toBe('80');
    expect((response.body as Buffer).byteLength).toBeLessThanOrEqual(MAX_GENERATED_BODY_BYTES);
    expect(logs).toEqual([
      { level: 'info', code: 'Resize.QualityLowered', asked: 90, used: 80, reencodes: 1 },
    ]);
    // The q90 key holds exactly the bytes this URL served, marked with the quality they carry.
    const stored = store.objects.get(`${config.derived.bucket}/${derivedKey(asked, config)}`);
    expect(stored?.body.equals(response.body as Buffer)).toBe(true);
    expect(stored?.metadata).toEqual({ 'image-quality': '80' });
  });

  it('names the quality of an image that fitted at once, too', async () => {
    const { config, store, deps } = setup();
    const asked = request({ quality: 70, width: 640, format: 'webp' });

    const response = await generateDerived(derivedUri(asked, config), deps);

    expect(response.headers[QUALITY_HEADER]).toBe('70');
    expect(store.objects.get(`${config.derived.bucket}/${derivedKey(asked, config)}`)?.metadata).toEqual({
      'image-quality': '70',
    });
  });

  it('names no quality for a PNG, which has none', async () => {
    const { config, store, deps } = setup();
    const asked = request({ format: 'png', width: 160 });

    const response = await generateDerived(derivedUri(asked, config), deps);

    expect(response.headers).not.toHaveProperty(QUALITY_HEADER);
    expect(store.objects.get(`${config.derived.bucket}/${derivedKey(asked, config)}`)).not.toHaveProperty(
      'metadata',
    );
  });

  it('encodes AVIF with the effort bounds of the config', async () => {
    const { config, deps } = setup(
      testConfig({ avif: { effort: 1, reducedEffort: 0, maxFullEffortPixels: 100_000 } }),
    );
    const encode = vi.spyOn(sharp.prototype as Sharp, 'avif');

    await generateDerived(derivedUri(request({ format: 'avif', width: 160, quality: 60 }), config), deps);
    await generateDerived(derivedUri(request({ format: 'avif', width: 640, quality: 60 }), config), deps);

    expect(encode.mock.calls.map(([options]) => options?.effort)).toEqual([1, 0]);
  });

  it('stores the asked quality and redirects when even the lowest allowed quality is too big', async () => {
    const { config, store, deps } = setup();
    const noise = await pureGrain();
    store.put({ bucket: config.derived.bucket, key: 'originals/noise.jpg' }, noise);
    const asked = request({ quality: 80, path: 'noise.jpg' });

    const response = await generateDerived(derivedUri(asked, config), deps);

    expect(response.status).toBe(302);
    const stored = store.objects.get(`${config.derived.bucket}/${derivedKey(asked, config)}`);
    expect(stored?.metadata).toEqual({ 'image-quality': '80' });
    expect(stored?.body.byteLength).toBeGreaterThan(MAX_GENERATED_BODY_BYTES);
  });
});

describe('S3ImageStore and the quality metadata', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  it('writes the quality as user metadata, which S3 returns as x-amz-meta-image-quality', async () => {
    s3.on(PutObjectCommand).resolves({});
    const store = new S3ImageStore(new S3Client({ region: 'us-east-1' }), { retryAfterSeconds: 2 });

    await store.putDerived({ bucket: 'media', key: 'derived/x.jpg' }, Buffer.from('x'), {
      contentType: 'image/jpeg',
      cacheControl: 'public, max-age=31536000, immutable',
      metadata: { 'image-quality': '80' },
    });

    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Key: 'derived/x.jpg',
      Metadata: { 'image-quality': '80' },
    });
  });
});

describe('origin-response with quality fitting', () => {
  it('answers a result over the cap at its asked quality inline, within CloudFront’s rules', async () => {
    const config = testConfig({ signing: undefined });
    const store = new MemoryStore();
    store.put({ bucket: config.derived.bucket, key: 'originals/photo.jpg' }, photo);
    const handler = createOriginResponseHandler({
      config,
      store,
      limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 2 }),
      log: () => {},
    });
    const uri = derivedUri(request({ quality: 90, format: 'jpeg' }), config);

    const result = await invokeAtEdge(
      handler,
      originResponseEvent({ ...viewerRequest(uri), headers: {} }, s3ErrorResponse('403')),
    );

    expect(result).toMatchObject({
      status: '200',
      bodyEncoding: 'base64',
      headers: {
        'content-type': [{ key: 'Content-Type', value: 'image/jpeg' }],
        [QUALITY_HEADER]: [{ key: 'X-Amz-Meta-Image-Quality', value: '80' }],
      },
    });
  });
});

describe('config of fitting and AVIF effort', () => {
  const file = () => shippedConfigWith(TEST_SIGNING_SECRET) as unknown as Record<string, unknown>;

  it('defaults both when a config predates them', () => {
    const { fitToResponse: _fit, avif: _avif, ...older } = file();

    const config = parseEdgeConfig(older);

    expect(config.fitToResponse).toEqual({ minQuality: 60, maxReencodes: 2 });
    expect(config.avif).toEqual({ effort: 2, reducedEffort: 0, maxFullEffortPixels: 1_048_576 });
  });

  it('refuses an AVIF effort over 3 (effort 4 took 7–26 s for 1920 px in the bench)', () => {
    const raw = { ...file(), avif: { effort: 4, reducedEffort: 0, maxFullEffortPixels: 1 } };

    expect(errorOf(() => parseEdgeConfig(raw))?.message).toMatch(/avif\.effort: Too big/);
  });

  it('refuses a reduced effort above the full one', () => {
    const raw = { ...file(), avif: { effort: 1, reducedEffort: 2, maxFullEffortPixels: 1 } };

    expect(errorOf(() => parseEdgeConfig(raw))?.message).toBe(
      'Invalid edge config: avif.reducedEffort: must not exceed "effort"',
    );
  });

  it('refuses more than 4 re-encodes', () => {
    const raw = { ...file(), fitToResponse: { minQuality: 60, maxReencodes: 5 } };

    expect(errorOf(() => parseEdgeConfig(raw))?.message).toMatch(/fitToResponse\.maxReencodes: Too big/);
  });
});
