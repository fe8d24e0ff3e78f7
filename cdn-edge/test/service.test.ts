import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EdgeConfig } from '../src/config.ts';
import { MAX_GENERATED_BODY_BYTES } from '../src/http.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { resizeImage } from '../src/resize.ts';
import { generateDerived } from '../src/service.ts';
import { derivedUri } from '../src/url.ts';
import { testConfig } from './support/config.ts';
import { MemoryStore } from './support/memory-store.ts';

// The delivery rules depend only on the size of the result: sharp is replaced by a result of the
// size each test needs (resize.test.ts covers generateDerived with real images).
vi.mock('../src/resize.ts', () => ({ resizeImage: vi.fn() }));

function resultOf(bytes: number) {
  vi.mocked(resizeImage).mockResolvedValue({
    body: Buffer.alloc(bytes),
    contentType: 'image/webp',
    width: 1920,
    height: 1080,
  });
}

function setup(config: EdgeConfig = testConfig()) {
  const store = new MemoryStore();
  store.put({ bucket: 'gantry-cdn-media-dev', key: 'originals/a.jpg' }, Buffer.from('original'));
  const logs: Array<Record<string, unknown>> = [];
  const deps = {
    config,
    store,
    limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 2 }),
    log: (entry: Record<string, unknown>) => logs.push(entry),
  };
  const uri = derivedUri(
    { width: 1920, height: 0, fit: 'inside', quality: 80, format: 'webp', path: 'a.jpg' },
    config,
  );
  return { store, logs, deps, uri };
}

afterEach(() => {
  vi.mocked(resizeImage).mockReset();
});

describe('generateDerived delivery', () => {
  it('returns a result of exactly the generated-response limit inline', async () => {
    const { deps, uri } = setup();
    resultOf(MAX_GENERATED_BODY_BYTES);

    const response = await generateDerived(uri, deps);

    expect(response.status).toBe(200);
    expect((response.body as Buffer).byteLength).toBe(MAX_GENERATED_BODY_BYTES);
  });

  it('redirects a result one byte over the limit to the stored object', async () => {
    const { deps, uri } = setup();
    resultOf(MAX_GENERATED_BODY_BYTES + 1);

    const response = await generateDerived(uri, deps);

    expect(response.status).toBe(302);
  });

  it('redirects without a signature when signing is not configured', async () => {
    const { deps, uri } = setup(testConfig({ signing: undefined }));
    resultOf(MAX_GENERATED_BODY_BYTES + 1);

    const response = await generateDerived(uri, deps);

    expect(response).toEqual({
      status: 302,
      headers: { location: '/derived/a.jpg/1920x0-inside-q80-webp', 'cache-control': 'no-store' },
    });
  });

  it('logs a failed write-back as "unknown" when the store throws something that is not an Error', async () => {
    const { deps, store, logs, uri } = setup();
    resultOf(10);
    vi.spyOn(store, 'putDerived').mockRejectedValue('connection reset');

    const response = await generateDerived(uri, deps);

    expect(response.status).toBe(200);
    expect(logs).toEqual([{ level: 'warn', code: 'Derived.WriteFailed', error: 'unknown' }]);
  });
});

describe('generateDerived and the resize budget', () => {
  /** A lister that reports `count` variants, all written at `writtenAt`. */
  const variantsWritten = (count: number, writtenAt: number) => ({
    listVariants: vi.fn(async () => ({
      count,
      written: Array.from({ length: count }, () => new Date(writtenAt)),
    })),
  });

  it('refuses a miss over the budget before reading the original or resizing', async () => {
    const { deps, store, uri } = setup();
    const variants = variantsWritten(deps.config.budget.maxVariantsPerOriginal, 0);
    const getOriginal = vi.spyOn(store, 'getOriginal');
    resultOf(10);

    const error = await generateDerived(uri, { ...deps, variants, now: () => 0 }).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 503, code: 'Resize.BudgetExhausted' });
    expect(getOriginal).not.toHaveBeenCalled();
    expect(resizeImage).not.toHaveBeenCalled();
  });

  it('judges the rate on the real clock when no clock is given', async () => {
    const { deps, uri } = setup();
    const variants = variantsWritten(deps.config.budget.maxNewVariantsPerWindow, Date.now());
    resultOf(10);

    const error = await generateDerived(uri, { ...deps, variants }).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 503, code: 'Resize.RateLimited' });
  });

  it('resizes a miss within the budget', async () => {
    const { deps, uri } = setup();
    resultOf(10);

    const response = await generateDerived(uri, { ...deps, variants: variantsWritten(0, 0) });

    expect(response.status).toBe(200);
  });
});
