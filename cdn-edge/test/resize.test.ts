import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { pureGrain } from '../bench/synthetic.ts';
import type { EdgeConfig } from '../src/config.ts';
import { HttpError } from '../src/errors.ts';
import { MAX_GENERATED_BODY_BYTES } from '../src/http.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { generateDerived, type ResizeServiceDeps } from '../src/service.ts';
import { derivedUri, type OutputFormat } from '../src/url.ts';
import { testConfig } from './support/config.ts';
import { fixtures } from './support/fixtures.ts';
import { MemoryStore } from './support/memory-store.ts';

function setup(config: EdgeConfig = testConfig()) {
  const store = new MemoryStore();
  const logs: Array<Record<string, unknown>> = [];
  const deps: ResizeServiceDeps = {
    config,
    store,
    limiter: new ResizeLimiter({ maxConcurrent: 2, maxQueued: 2, retryAfterSeconds: 2 }),
    log: (entry) => logs.push(entry),
  };
  const seed = (name: string, body: Buffer) =>
    store.put({ bucket: 'gantry-cdn-media-dev', key: `originals/${name}` }, body);
  const uri = (path: string, format: OutputFormat, width = 400, height = 0) =>
    derivedUri({ width, height, fit: height ? 'cover' : 'inside', quality: 80, format, path }, config);
  return { store, deps, logs, seed, uri };
}

async function expectHttpError(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  expect(error).toMatchObject({ status, code });
}

describe('generateDerived', () => {
  describe('with real images', () => {
    const cases: Array<{
      name: string;
      make: () => Promise<Buffer>;
      format: OutputFormat;
      expected: { format: string; width: number; height: number; hasAlpha?: boolean };
    }> = [
      {
        name: 'a JPEG',
        make: fixtures.jpeg,
        format: 'webp',
        expected: { format: 'webp', width: 400, height: 267 },
      },
      {
        name: 'a PNG with alpha (auto keeps PNG)',
        make: fixtures.pngWithAlpha,
        format: 'auto',
        expected: { format: 'png', width: 400, height: 267, hasAlpha: true },
      },
      {
        name: 'a PNG with alpha to WebP',
        make: fixtures.pngWithAlpha,
        format: 'webp',
        expected: { format: 'webp', width: 400, height: 267, hasAlpha: true },
      },
      {
        name: 'a WebP to AVIF',
        make: fixtures.webp,
        format: 'avif',
        expected: { format: 'heif', width: 400, height: 400 },
      },
      // libvips decodes GIF with an alpha channel (GIF transparency), so auto keeps it lossless: PNG.
      {
        name: 'a GIF (first frame)',
        make: fixtures.gif,
        format: 'auto',
        expected: { format: 'png', width: 400, height: 300 },
      },
      {
        name: 'an AVIF',
        make: fixtures.avif,
        format: 'webp',
        expected: { format: 'webp', width: 400, height: 267 },
      },
      {
        name: 'an EXIF-rotated JPEG (turned upright)',
        make: fixtures.exifRotated,
        format: 'auto',
        expected: { format: 'jpeg', width: 400, height: 600 },
      },
      {
        name: 'a CMYK JPEG',
        make: fixtures.cmyk,
        format: 'webp',
        expected: { format: 'webp', width: 400, height: 300 },
      },
      {
        name: 'a 16-bit PNG',
        make: fixtures.png16,
        format: 'auto',
        expected: { format: 'jpeg', width: 400, height: 300 },
      },
      {
        name: 'a TIFF',
        make: fixtures.tiff,
        format: 'auto',
        expected: { format: 'jpeg', width: 400, height: 300 },
      },
    ];
    // sharp reports AVIF as heif; the response names the format the browser asked for.
    const CONTENT_TYPES: Record<string, string> = {
      jpeg: 'image/jpeg',
      png: 'image/png',
      webp: 'image/webp',
      heif: 'image/avif',
    };

    it.each(cases)('resizes $name', async ({ make, format, expected }) => {
      const { deps, seed, uri, store } = setup();
      seed('img.bin.jpg', await make());

      const response = await generateDerived(uri('img.bin.jpg', format), deps);

      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe(CONTENT_TYPES[expected.format]);
      expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const body = response.body as Buffer;
      const meta = await sharp(body).metadata();
      expect(meta).toMatchObject(expected);
      // Output is plain 8-bit sRGB with no metadata left.
      expect(meta.space).toBe('srgb');
      expect(meta.depth).toBe('uchar');
      expect(meta.exif).toBeUndefined();
      expect(meta.orientation).toBeUndefined();
      // Written back under the derived key for the next miss.
      const derivedKey = uri('img.bin.jpg', format).slice(1);
      expect(store.objects.get(`gantry-cdn-media-dev/${derivedKey}`)?.body.equals(body)).toBe(true);
    });

    it('crops to cover when both sides are fixed', async () => {
      const { deps, seed, uri } = setup();
      seed('a.jpg', await fixtures.jpeg());

      const response = await generateDerived(uri('a.jpg', 'jpeg', 400, 300), deps);

      expect(await sharp(response.body as Buffer).metadata()).toMatchObject({ width: 400, height: 300 });
    });

    it.each(['jpeg', 'webp', 'avif'] as const)(
      'encodes %s at the quality the URL asks for',
      async (format) => {
        const { deps, seed } = setup();
        seed('a.jpg', await fixtures.jpeg());
        const at = (quality: number) =>
          generateDerived(
            derivedUri({ width: 400, height: 0, fit: 'inside', quality, format, path: 'a.jpg' }, deps.config),
            deps,
          );

        const [low, high] = await Promise.all([at(50), at(90)]);

        expect((low.body as Buffer).byteLength).toBeLessThan((high.body as Buffer).byteLength);
      },
    );

    it('decodes an original of exactly maxInputPixels', async () => {
      const base = testConfig();
      const { deps, seed, uri } = setup(
        testConfig({ limits: { ...base.limits, maxInputPixels: 1200 * 800 } }),
      );
      seed('a.jpg', await fixtures.jpeg());

      const response = await generateDerived(uri('a.jpg', 'jpeg'), deps);

      expect(response.status).toBe(200);
    });

    it('refuses an original one pixel over maxInputPixels, naming both', async () => {
      const base = testConfig();
      const { deps, seed, uri } = setup(
        testConfig({ limits: { ...base.limits, maxInputPixels: 1200 * 800 - 1 } }),
      );
      seed('a.jpg', await fixtures.jpeg());

      const error = await generateDerived(uri('a.jpg', 'jpeg'), deps).catch((e: unknown) => e);

      expect(error).toMatchObject({
        status: 413,
        code: 'Resize.TooLarge',
        message: 'the original has 1200×800 pixels, over the limit of 959999',
      });
    });

    it('resizes to a height alone, the width following the aspect ratio', async () => {
      const { deps, seed } = setup();
      seed('a.jpg', await fixtures.jpeg());
      const target = derivedUri(
        { width: 0, height: 300, fit: 'inside', quality: 80, format: 'jpeg', path: 'a.jpg' },
        deps.config,
      );

      const response = await generateDerived(target, deps);

      expect(await sharp(response.body as Buffer).metadata()).toMatchObject({ width: 450, height: 300 });
    });

    it('never enlarges a small original', async () => {
      const { deps, seed, uri } = setup();
      seed(
        'small.png',
        await sharp({ create: { width: 100, height: 50, channels: 3, background: '#123' } })
          .png()
          .toBuffer(),
      );

      const response = await generateDerived(uri('small.png', 'png', 800), deps);

      expect(await sharp(response.body as Buffer).metadata()).toMatchObject({ width: 100, height: 50 });
    });
  });

  describe('with bad originals', () => {
    it.each([
      {
        name: 'a truncated JPEG',
        make: fixtures.truncatedJpeg,
        status: 422,
        code: 'Resize.BadImage',
        message: 'the original could not be decoded',
      },
      {
        name: 'a decompression bomb',
        make: fixtures.decompressionBomb,
        status: 413,
        code: 'Resize.TooLarge',
        message: 'the original has 50000×50000 pixels, over the limit of 40000000',
      },
      {
        name: 'something that is not an image',
        make: fixtures.notAnImage,
        status: 422,
        code: 'Resize.NotAnImage',
        message: 'the original is not a supported image',
      },
    ])('answers $status for $name', async ({ make, status, code, message }) => {
      const { deps, seed, uri, store } = setup();
      seed('bad.jpg', await make());

      const error = await generateDerived(uri('bad.jpg', 'webp'), deps).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status, code, message });
      expect([...store.objects.keys()].some((k) => k.includes('/derived/'))).toBe(false);
    });

    it('keeps sharp’s error as the cause of a failed decode, for the logs', async () => {
      const { deps, seed, uri } = setup();
      seed('bad.jpg', await fixtures.truncatedJpeg());

      const error = await generateDerived(uri('bad.jpg', 'webp'), deps).catch((e: unknown) => e);

      expect(error).toMatchObject({ code: 'Resize.BadImage', cause: expect.any(Error) });
    });

    it.each(['bad.jpg', 'bad.png'])(
      'refuses an SVG named %s: only listed formats are decoded',
      async (name) => {
        const { deps, seed, uri, store } = setup();
        seed(name, await fixtures.svg());

        const error = await generateDerived(uri(name, 'webp'), deps).catch((e: unknown) => e);

        expect(error).toBeInstanceOf(HttpError);
        expect(error).toMatchObject({
          status: 422,
          code: 'Resize.UnsupportedFormat',
          message: 'the original is svg, not one of jpeg, png, webp, gif, avif, tiff',
        });
        expect([...store.objects.keys()].some((k) => k.includes('/derived/'))).toBe(false);
      },
    );

    it('answers 404 when the original is missing', async () => {
      const { deps, uri } = setup();

      await expectHttpError(generateDerived(uri('nothing-here.jpg', 'webp'), deps), 404, 'Origin.NotFound');
    });

    it('answers 413 when the original is over the byte limit', async () => {
      const base = testConfig();
      const { deps, seed, uri } = setup(testConfig({ limits: { ...base.limits, maxInputBytes: 1000 } }));
      seed('big.jpg', await fixtures.jpeg());

      await expectHttpError(generateDerived(uri('big.jpg', 'webp'), deps), 413, 'Resize.TooLarge');
    });

    it('answers 400 for a URI outside the derived contract', async () => {
      const { deps } = setup();

      await expectHttpError(
        generateDerived('/derived/a.jpg/401x0-inside-q80-webp', deps),
        400,
        'Url.BadSize',
      );
    });
  });

  describe('delivery', () => {
    it('stores the derived image with its Content-Type and a year-long immutable Cache-Control', async () => {
      const { deps, seed, uri, store } = setup();
      seed('a.jpg', await fixtures.jpeg());
      const target = uri('a.jpg', 'avif');

      await generateDerived(target, deps);

      expect(store.objects.get(`gantry-cdn-media-dev/${target.slice(1)}`)).toMatchObject({
        contentType: 'image/avif',
        cacheControl: 'public, max-age=31536000, immutable',
      });
    });

    it('still returns the image when writing it back fails, and logs it', async () => {
      const { deps, seed, uri, store, logs } = setup();
      seed('a.jpg', await fixtures.jpeg());
      store.failPuts = true;

      const response = await generateDerived(uri('a.jpg', 'webp'), deps);

      expect(response.status).toBe(200);
      expect(logs).toEqual([{ level: 'warn', code: 'Derived.WriteFailed', error: 'AccessDenied' }]);
    });

    it('answers 503 Resize.Unstored, with Retry-After, when the result is too big to return and could not be stored', async () => {
      const { deps, seed, store, logs } = setup();
      seed('huge.png', await pureGrain(1920, 1920));
      store.failPuts = true;
      const target = derivedUri(
        { width: 1920, height: 0, fit: 'inside', quality: 90, format: 'png', path: 'huge.png' },
        deps.config,
      );

      const error = await generateDerived(target, deps).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({
        status: 503,
        code: 'Resize.Unstored',
        message: 'the resized image is too large to return and could not be stored',
        retryAfter: 2,
      });
      expect(logs).toEqual([{ level: 'warn', code: 'Derived.WriteFailed', error: 'AccessDenied' }]);
    });

    it('redirects to the stored derived object when the result is over the generated-response limit', async () => {
      const { deps, seed, store } = setup();
      seed('huge.png', await pureGrain(1920, 1920));
      const target = derivedUri(
        { width: 1920, height: 0, fit: 'inside', quality: 90, format: 'png', path: 'huge.png' },
        deps.config,
      );

      const response = await generateDerived(target, deps);

      expect(response).toEqual({
        status: 302,
        headers: {
          location: expect.stringMatching(/^\/derived\/huge\.png\/1920x0-inside-q90-png\?sig=[0-9a-f]{32}$/),
          'cache-control': 'no-store',
        },
      });
      const stored = store.objects.get(`gantry-cdn-media-dev/${target.slice(1)}`);
      expect(stored?.body.byteLength).toBeGreaterThan(MAX_GENERATED_BODY_BYTES);
    });
  });
});
