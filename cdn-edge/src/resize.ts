import sharp, { type Metadata, type ResizeOptions } from 'sharp';
import { HttpError } from './errors.ts';
import type { DerivedRequest } from './url.ts';

// libvips' operation cache keeps decoded pixels of past requests alive: useless for a resizer that
// sees each original once per instance, and it pushes a 24 MP source past the memory budget.
sharp.cache(false);

export interface ResizeLimits {
  /** Width × height of the source above which we refuse to decode (decompression bombs). */
  readonly maxInputPixels: number;
}

export interface ResizedImage {
  readonly body: Buffer;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
}

const CONTENT_TYPES = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
} as const;

/**
 * Source formats the resizer decodes, as sharp's `metadata().format` names them; the URL contract's
 * extensions (jpg jpeg png webp gif avif tif tiff) map onto these. The extension proves nothing
 * about the bytes: sharp sniffs the content and would happily rasterise an SVG (librsvg: scripts,
 * huge canvases) or anything else it can read, so the decoded format is checked before any decode.
 */
const DECODED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

/** Names a source format for people: sharp reports AVIF and HEIC both as `heif`. */
function formatName(metadata: Metadata): string {
  if (metadata.format === 'heif') return metadata.compression === 'av1' ? 'avif' : 'heic';
  return metadata.format;
}

function checkSourceFormat(metadata: Metadata): void {
  // HEIF holds AVIF (av1) or HEIC (hevc); only AVIF is in the contract ("compression" in sharp's
  // Metadata: "The encoder used to compress an HEIF file, av1 (AVIF) or hevc (HEIC)").
  const allowed =
    DECODED_FORMATS.has(metadata.format) && (metadata.format !== 'heif' || metadata.compression === 'av1');
  if (!allowed) {
    throw new HttpError(
      422,
      'Resize.UnsupportedFormat',
      `the original is ${formatName(metadata)}, not one of jpeg, png, webp, gif, avif, tiff`,
    );
  }
}

/**
 * Resizes one image. Orientation comes from EXIF, every piece of metadata is stripped (the default of
 * sharp without `keepMetadata`), the output is 8-bit sRGB whatever the source (CMYK, 16-bit, …).
 * Throws HttpError 413 for too many pixels, 422 for a format outside the list and for anything
 * that is not a decodable image.
 */
export async function resizeImage(
  input: Buffer,
  request: DerivedRequest,
  limits: ResizeLimits,
): Promise<ResizedImage> {
  let metadata: Metadata;
  try {
    // Reads the header only: a bomb declares its size long before it costs memory.
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new HttpError(422, 'Resize.NotAnImage', 'the original is not a supported image', { cause: error });
  }
  checkSourceFormat(metadata);
  const { width = 0, height = 0 } = metadata;
  if (width === 0 || height === 0) {
    throw new HttpError(422, 'Resize.NotAnImage', 'the original has no dimensions');
  }
  if (width * height > limits.maxInputPixels) {
    throw new HttpError(
      413,
      'Resize.TooLarge',
      `the original has ${width}×${height} pixels, over the limit of ${limits.maxInputPixels}`,
    );
  }

  const format = request.format === 'auto' ? (metadata.hasAlpha ? 'png' : 'jpeg') : request.format;
  const resize: ResizeOptions = { fit: request.fit, withoutEnlargement: true };
  if (request.width !== 0) resize.width = request.width;
  if (request.height !== 0) resize.height = request.height;

  let pipeline = sharp(input, {
    limitInputPixels: limits.maxInputPixels,
    // 'truncated' rejects cut-off files instead of serving a half-grey image forever from the cache.
    failOn: 'truncated',
    autoOrient: true,
  })
    .resize(resize)
    .toColourspace('srgb');
  switch (format) {
    case 'jpeg':
      // Baseline, not progressive: progressive costs ~12% more CPU per miss and buys little at ≤ 1920 px.
      pipeline = pipeline.jpeg({ quality: request.quality });
      break;
    case 'png':
      pipeline = pipeline.png({ compressionLevel: 6 });
      break;
    case 'webp':
      pipeline = pipeline.webp({ quality: request.quality, effort: 4 });
      break;
    case 'avif':
      // Effort 2 of 9: AVIF encoding dominates latency on a cache miss; higher efforts save a few %.
      pipeline = pipeline.avif({ quality: request.quality, effort: 2 });
      break;
  }
  try {
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return { body: data, contentType: CONTENT_TYPES[format], width: info.width, height: info.height };
  } catch (error) {
    throw new HttpError(422, 'Resize.BadImage', 'the original could not be decoded', { cause: error });
  }
}
