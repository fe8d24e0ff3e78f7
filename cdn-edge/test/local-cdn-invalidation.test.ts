import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalCdn, startLocalCdn } from '../local/cdn.ts';
import { localConfig } from '../local/dev-config.ts';

/** A flat image of one colour: which original a variant came from is read from its pixels. */
const flat = (colour: { r: number; g: number; b: number }) =>
  sharp({ create: { width: 1200, height: 900, channels: 3, background: colour } })
    .jpeg({ quality: 90 })
    .toBuffer();
const RED = { r: 220, g: 20, b: 20 };
const BLUE = { r: 20, g: 20, b: 220 };

/** Every public size of one original a page might use, in the formats browsers negotiate. */
const SIZES = ['/thumb', '/card', '/400x', '/800x', '/x300', '/hero'];
const ACCEPTS = ['image/avif,image/webp,*/*', 'image/webp,*/*', 'image/jpeg'];

async function get(cdn: LocalCdn, path: string, accept: string) {
  const response = await fetch(`${cdn.url}${cdn.signedPath(path)}`, { headers: { accept } });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, cache: response.headers.get('x-cache'), headers: response.headers, body };
}

/** Which of red or blue the image is. */
async function colourOf(image: Buffer): Promise<'red' | 'blue'> {
  const { channels } = await sharp(image).stats();
  return (channels[0]?.mean ?? 0) > (channels[2]?.mean ?? 0) ? 'red' : 'blue';
}

async function storedVariants(cdn: LocalCdn, path: string): Promise<string[]> {
  const listing = await cdn.s3.send(
    new ListObjectsV2Command({
      Bucket: cdn.config.derived.bucket,
      Prefix: `derived/${path}/`,
      Delimiter: '/',
    }),
  );
  return (listing.Contents ?? []).map((o) => o.Key ?? '');
}

// Each test starts its own local CDN (its own s3rver), closed after it.
let cdn: LocalCdn | undefined;
afterEach(async () => {
  await cdn?.close();
  cdn = undefined;
});

describe('local CDN: every variant invalidated when an original changes', () => {
  it('shows a re-upload of products/shoe.jpg at every size and format after one invalidation', async () => {
    // products/ reads originals/catalog/: the seed's catalog/shoe.jpg is products/shoe.jpg too.
    cdn = await startLocalCdn({ seed: { 'catalog/shoe.jpg': await flat(RED) } });
    const requests = SIZES.flatMap((size) =>
      ACCEPTS.map((accept) => [`${size}/products/shoe.jpg`, accept] as const),
    );
    for (const [path, accept] of requests) await get(cdn, path, accept);
    const stored = await storedVariants(cdn, 'products/shoe.jpg');

    await cdn.s3.send(
      new PutObjectCommand({
        Bucket: 'gantry-cdn-media-dev',
        Key: 'originals/catalog/shoe.jpg',
        Body: await flat(BLUE),
      }),
    );
    const beforeInvalidation = await get(cdn, '/400x/products/shoe.jpg', 'image/webp,*/*');
    const outcome = await cdn.processOriginalChanges();
    const after = [];
    for (const [path, accept] of requests) after.push(await get(cdn, path, accept));

    // 6 sizes × 3 formats.
    expect(stored).toHaveLength(18);
    expect(await colourOf(beforeInvalidation.body)).toBe('red');
    expect(outcome).toMatchObject({
      deleted: 18,
      paths: ['/derived/catalog/shoe.jpg/*', '/derived/products/shoe.jpg/*'],
    });
    expect(cdn.invalidations).toEqual([outcome.paths]);
    expect(after.map((r) => [r.status, r.cache])).toEqual(requests.map(() => [200, 'Miss from local']));
    expect(await Promise.all(after.map((r) => colourOf(r.body)))).toEqual(requests.map(() => 'blue'));
  });

  it('leaves no variant of a deleted original, in S3 or in the cache', async () => {
    cdn = await startLocalCdn({
      seed: { 'catalog/shoe.jpg': await flat(RED), 'catalog/boot.jpg': await flat(RED) },
    });
    for (const size of SIZES) {
      await get(cdn, `${size}/products/shoe.jpg`, 'image/webp,*/*');
      await get(cdn, `${size}/products/boot.jpg`, 'image/webp,*/*');
    }

    await cdn.s3.send(
      new DeleteObjectCommand({ Bucket: 'gantry-cdn-media-dev', Key: 'originals/catalog/shoe.jpg' }),
    );
    const outcome = await cdn.processOriginalChanges();
    const afterDelete = [];
    for (const size of SIZES) afterDelete.push(await get(cdn, `${size}/products/shoe.jpg`, 'image/webp,*/*'));
    const boot = await get(cdn, '/400x/products/boot.jpg', 'image/webp,*/*');

    expect(outcome.deleted).toBe(SIZES.length);
    expect(await storedVariants(cdn, 'products/shoe.jpg')).toEqual([]);
    expect(afterDelete.map((r) => r.status)).toEqual(SIZES.map(() => 404));
    // Another original keeps its variants and its cache entries.
    expect(await storedVariants(cdn, 'products/boot.jpg')).toHaveLength(SIZES.length);
    expect([boot.status, boot.cache]).toEqual([200, 'Hit from local']);
  });

  it('refuses paths CloudFront refuses, and removes exactly what a path names', async () => {
    cdn = await startLocalCdn({ seed: { 'a.jpg': await flat(RED) } });
    await get(cdn, '/400x/a.jpg', 'image/webp,*/*');
    await get(cdn, '/800x/a.jpg', 'image/webp,*/*');

    cdn.invalidate(['/derived/a.jpg/400x0-inside-q80-webp']);
    const named = await get(cdn, '/400x/a.jpg', 'image/webp,*/*');
    const other = await get(cdn, '/800x/a.jpg', 'image/webp,*/*');

    expect(() => cdn?.invalidate(['derived/a.jpg/*'])).toThrow('CloudFront refuses the invalidation path');
    expect(() => cdn?.invalidate(['/derived/*/a.jpg'])).toThrow('CloudFront refuses the invalidation path');
    expect([named.cache, other.cache]).toEqual(['Miss from local', 'Hit from local']);
  });
});

describe('local CDN: the resize budget', () => {
  it('limits new variants per original, never hits, and caches the refusal briefly', async () => {
    // s3rver stamps objects with the real time, so the CDN's clock is the real one plus an offset.
    let offset = 0;
    const base = localConfig();
    const config = {
      ...base,
      budget: { maxVariantsPerOriginal: 3, maxNewVariantsPerWindow: 2, windowSeconds: 60, refusalMaxAge: 5 },
    };
    cdn = await startLocalCdn({ config, seed: { 'a.jpg': await flat(RED) }, now: () => Date.now() + offset });

    const first = await get(cdn, '/400x/a.jpg', 'image/webp,*/*');
    const second = await get(cdn, '/800x/a.jpg', 'image/webp,*/*');
    const overRate = await get(cdn, '/320x/a.jpg', 'image/webp,*/*');
    const refusalCached = await get(cdn, '/320x/a.jpg', 'image/webp,*/*');
    const hit = await get(cdn, '/400x/a.jpg', 'image/webp,*/*');
    cdn.clearCache();
    const fromS3 = await get(cdn, '/800x/a.jpg', 'image/webp,*/*');
    offset += 61_000;
    const third = await get(cdn, '/320x/a.jpg', 'image/webp,*/*');
    const overCap = await get(cdn, '/640x/a.jpg', 'image/webp,*/*');

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(overRate.status).toBe(503);
    expect(JSON.parse(overRate.body.toString())).toMatchObject({ error: { code: 'Resize.RateLimited' } });
    expect(overRate.headers.get('cache-control')).toMatch(/^public, max-age=[1-5]$/);
    expect(refusalCached.cache).toBe('Hit from local');
    expect([hit.status, hit.cache]).toEqual([200, 'Hit from local']);
    expect([fromS3.status, fromS3.cache]).toEqual([200, 'Miss from local']);
    expect(third.status).toBe(200);
    expect(overCap.status).toBe(503);
    expect(JSON.parse(overCap.body.toString())).toMatchObject({ error: { code: 'Resize.BudgetExhausted' } });
    expect(overCap.headers.get('cache-control')).toBe('public, max-age=5');
    expect(await storedVariants(cdn, 'a.jpg')).toHaveLength(3);
  });
});
