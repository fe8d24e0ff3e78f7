import { afterEach, describe, expect, it, vi } from 'vitest';
import { resizeImage } from '../src/resize.ts';

// What resizeImage decides from the header alone, for headers no fixture can be made of here:
// sharp's prebuilt libvips encodes no HEIC, and every image it writes has dimensions. Only
// `metadata()` is replaced; resize.test.ts runs the real pipeline.
const metadata = vi.fn();
vi.mock('sharp', () => ({
  default: Object.assign(
    vi.fn(() => ({ metadata })),
    { cache: vi.fn() },
  ),
}));

const request = { width: 400, height: 0, fit: 'inside', quality: 80, format: 'webp', path: 'a.jpg' } as const;
const limits = { maxInputPixels: 40_000_000 };

afterEach(() => {
  metadata.mockReset();
});

describe('resizeImage, judging the header', () => {
  // sharp's Metadata: `compression` is "the encoder used to compress an HEIF file, av1 (AVIF) or
  // hevc (HEIC)"; both report format "heif".
  it('refuses a HEIC original, naming it', async () => {
    metadata.mockResolvedValue({ format: 'heif', compression: 'hevc', width: 800, height: 600 });

    const error = await resizeImage(Buffer.from('heic'), request, limits).catch((e: unknown) => e);

    expect(error).toMatchObject({
      status: 422,
      code: 'Resize.UnsupportedFormat',
      message: 'the original is heic, not one of jpeg, png, webp, gif, avif, tiff',
    });
  });

  it('names a format outside the list as sharp reports it', async () => {
    metadata.mockResolvedValue({ format: 'jp2', width: 800, height: 600 });

    const error = await resizeImage(Buffer.from('jp2'), request, limits).catch((e: unknown) => e);

    expect(error).toMatchObject({
      status: 422,
      message: 'the original is jp2, not one of jpeg, png, webp, gif, avif, tiff',
    });
  });

  it.each([
    [{ format: 'heif', compression: 'av1', width: 0, height: 600 }],
    [{ format: 'png', width: 800 }],
    [{ format: 'jpeg', height: 600 }],
  ])('refuses an original whose header gives no size: %j', async (header) => {
    metadata.mockResolvedValue(header);

    const error = await resizeImage(Buffer.from('x'), request, limits).catch((e: unknown) => e);

    expect(error).toMatchObject({
      status: 422,
      code: 'Resize.NotAnImage',
      message: 'the original has no dimensions',
    });
  });

  it('keeps sharp’s error as the cause when the header cannot be read', async () => {
    const failure = new Error('Input buffer contains unsupported image format');
    metadata.mockRejectedValue(failure);

    const error = await resizeImage(Buffer.from('x'), request, limits).catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 422, code: 'Resize.NotAnImage', cause: failure });
  });
});
