import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pureGrain } from '../bench/synthetic.ts';
import { type LocalCdn, startLocalCdn } from '../local/cdn.ts';
import { launchChromium } from './support/browser.ts';

describe('local CDN (simulated CloudFront + s3rver)', () => {
  let cdn: LocalCdn;

  beforeAll(async () => {
    cdn = await startLocalCdn();
  });

  afterAll(async () => {
    await cdn.close();
  });

  it('resizes on the first request and serves the second from its cache', async () => {
    const first = await fetch(`${cdn.url}${cdn.signedPath('/400x/sample.jpg')}`, {
      headers: { accept: 'image/webp,*/*' },
    });
    const second = await fetch(`${cdn.url}${cdn.signedPath('/400x/sample.jpg?utm=ignored')}`, {
      headers: { accept: 'image/webp,*/*' },
    });

    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/webp');
    expect(first.headers.get('x-cache')).toBe('Miss from local');
    expect(second.headers.get('x-cache')).toBe('Hit from local');
    expect(Buffer.from(await second.arrayBuffer()).equals(Buffer.from(await first.arrayBuffer()))).toBe(true);
  });

  it('marks public URLs Vary: Accept, since the same URL gives another format to another browser', async () => {
    const webp = await fetch(`${cdn.url}${cdn.signedPath('/320x/sample.jpg')}`, {
      headers: { accept: 'image/webp,*/*' },
    });
    const jpeg = await fetch(`${cdn.url}${cdn.signedPath('/320x/sample.jpg')}`, {
      headers: { accept: 'image/jpeg' },
    });

    expect(webp.headers.get('vary')).toBe('Accept');
    expect(jpeg.headers.get('vary')).toBe('Accept');
    expect([webp.headers.get('content-type'), jpeg.headers.get('content-type')]).toEqual([
      'image/webp',
      'image/jpeg',
    ]);
  });

  it('serves a miss in another edge cache from S3, without resizing again', async () => {
    const first = await fetch(`${cdn.url}${cdn.signedPath('/card/sample.jpg')}`);
    const generated = cdn.stats.generated;
    const originFetches = cdn.stats.originFetches;
    cdn.clearCache();

    const again = await fetch(`${cdn.url}${cdn.signedPath('/400x300/sample.jpg?fit=cover')}`);

    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-cache')).toBe('Miss from local');
    expect(cdn.stats.originFetches).toBe(originFetches + 1);
    expect(cdn.stats.generated).toBe(generated);
  });

  it('keeps an error only for its short max-age', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const local = await startLocalCdn({ now: () => now, seed: {} });
    try {
      await fetch(`${local.url}${local.signedPath('/400x/late.jpg')}`);
      const cached = await fetch(`${local.url}${local.signedPath('/400x/late.jpg')}`);
      now += 61_000;
      const expired = await fetch(`${local.url}${local.signedPath('/400x/late.jpg')}`);

      expect(cached.headers.get('x-cache')).toBe('Hit from local');
      expect(expired.headers.get('x-cache')).toBe('Miss from local');
      expect(expired.status).toBe(404);
    } finally {
      await local.close();
    }
  });

  it('redirects a result too big for a generated response to its stored copy, which then serves it', async () => {
    const noise = await pureGrain();
    const local = await startLocalCdn({ seed: { 'noise.png': noise } });
    try {
      const first = await fetch(`${local.url}${local.signedPath('/1920x/noise.png?q=90')}`, {
        redirect: 'manual',
      });
      const location = first.headers.get('location') ?? '';
      const followed = await fetch(new URL(location, local.url));

      expect(first.status).toBe(302);
      expect(first.headers.get('cache-control')).toBe('no-store');
      expect(location).toMatch(/^\/derived\/noise\.png\/1920x0-inside-q90-auto\?sig=[0-9a-f]{32}$/);
      expect(followed.status).toBe(200);
      expect(followed.headers.get('content-type')).toBe('image/jpeg');
      // A derived URL names its format: nothing to vary on.
      expect(followed.headers.get('vary')).toBeNull();
      expect(await sharp(Buffer.from(await followed.arrayBuffer())).metadata()).toMatchObject({
        width: 1920,
        height: 1440,
      });
      expect(local.stats.generated).toBe(1);
    } finally {
      await local.close();
    }
  });

  it('answers 502, as CloudFront does, when origin-response returns a response that drops a read-only header', async () => {
    // The defect fixed in origin-response: a brand-new response object loses S3's transfer-encoding.
    const local = await startLocalCdn({
      seed: {},
      handlers: {
        originResponse: async () => ({
          status: '200',
          statusDescription: 'OK',
          headers: { 'content-type': [{ key: 'Content-Type', value: 'text/plain' }] },
          body: 'hello',
        }),
      },
    });
    try {
      const response = await fetch(`${local.url}${local.signedPath('/400x/a.jpg')}`);

      expect(response.status).toBe(502);
      expect(await response.text()).toContain(
        'The Lambda function result failed validation: origin-response cannot delete the read-only header &#34;transfer-encoding&#34;',
      );
      expect(response.headers.get('cache-control')).toBeNull();
    } finally {
      await local.close();
    }
  });

  it('refuses an unsigned URL with 403, as the shipped config requires signatures', async () => {
    const response = await fetch(`${cdn.url}/400x/sample.jpg`);

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: { code: 'Url.SignatureRequired', message: 'this URL must be signed (sig=…)' },
    });
  });

  it('answers a bad size with 400 and a missing original with 404', async () => {
    const bad = await fetch(`${cdn.url}/401x/sample.jpg`);
    const missing = await fetch(`${cdn.url}${cdn.signedPath('/400x/missing.jpg')}`);

    expect(bad.status).toBe(400);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBe('public, max-age=60');
  });

  it('renders a resized <img> in headless Chromium at the requested width', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent(
        `<img id="resized" src="${cdn.url}${cdn.signedPath('/320x/sample.jpg')}"><img id="preset" src="${cdn.url}${cdn.signedPath('/thumb/logo.png')}">`,
      );
      // A string, not a function: the test tsconfig has no DOM lib, this runs in the page.
      const sizes = await page.evaluate(`Promise.all([...document.images].map(async (img) => {
        await img.decode();
        return { id: img.id, width: img.naturalWidth, height: img.naturalHeight };
      }))`);

      expect(sizes).toEqual([
        { id: 'resized', width: 320, height: 213 },
        { id: 'preset', width: 160, height: 160 },
      ]);
    } finally {
      await browser.close();
    }
  });
});
