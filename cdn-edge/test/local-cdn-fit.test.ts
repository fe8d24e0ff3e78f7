import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticPhoto } from '../bench/synthetic.ts';
import { type LocalCdn, startLocalCdn } from '../local/cdn.ts';
import { MAX_GENERATED_BODY_BYTES } from '../src/http.ts';
import { QUALITY_HEADER } from '../src/service.ts';

describe('local CDN: fitting under the generated-response cap, AVIF bounded', () => {
  let cdn: LocalCdn;

  beforeAll(async () => {
    cdn = await startLocalCdn({ seed: { 'photo.jpg': await syntheticPhoto() } });
  });

  afterAll(async () => {
    await cdn.close();
  });

  it('serves a q90 result over the cap inline at a lower quality, and S3 then serves the same bytes and header', async () => {
    const path = cdn.signedPath('/1920x/photo.jpg?q=90');
    const generatedBefore = cdn.stats.generated;

    const first = await fetch(`${cdn.url}${path}`, { headers: { accept: 'image/jpeg' }, redirect: 'manual' });
    const firstBody = Buffer.from(await first.arrayBuffer());
    cdn.clearCache(); // another edge location: a miss there is served by the stored object
    const second = await fetch(`${cdn.url}${path}`, {
      headers: { accept: 'image/jpeg' },
      redirect: 'manual',
    });
    const secondBody = Buffer.from(await second.arrayBuffer());

    expect(first.status).toBe(200);
    expect(first.headers.get(QUALITY_HEADER)).toBe('80');
    expect(firstBody.byteLength).toBeLessThanOrEqual(MAX_GENERATED_BODY_BYTES);
    expect(second.status).toBe(200);
    expect(second.headers.get(QUALITY_HEADER)).toBe('80');
    expect(secondBody.equals(firstBody)).toBe(true);
    expect(cdn.stats.generated - generatedBefore).toBe(1);
  });

  it('keeps AVIF bytes under an AVIF key, from the function and from S3 alike', async () => {
    const path = cdn.signedPath('/1920x/photo.jpg');
    const accept = { accept: 'image/avif,image/webp,*/*' };

    const first = await fetch(`${cdn.url}${path}`, { headers: accept, redirect: 'manual' });
    const firstBody = Buffer.from(await first.arrayBuffer());
    cdn.clearCache();
    const second = await fetch(`${cdn.url}${path}`, { headers: accept, redirect: 'manual' });

    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/avif');
    expect(await sharp(firstBody).metadata()).toMatchObject({
      format: 'heif',
      compression: 'av1',
      width: 1920,
    });
    expect(second.headers.get('content-type')).toBe('image/avif');
    expect(Buffer.from(await second.arrayBuffer()).equals(firstBody)).toBe(true);
  });
});
