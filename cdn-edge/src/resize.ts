import sharp, { type Metadata, type OutputInfo, type ResizeOptions, type Sharp } from 'sharp';
import { HttpError } from './errors.ts';
import type { DerivedRequest } from './url.ts';

// libvips' operation cache keeps decoded pixels of past requests alive: useless for a resizer that
// sees each original once per instance, and it pushes a 24 MP source past the memory budget.
sharp.cache(false);

export interface ResizeLimits {
  /** Width × height of the source above which we refuse to decode (decompression bombs). */
  readonly maxInputPixels: number;
  /** When given, a lossy result over `maxBytes` is re-encoded at lower qualities (see fitQualities). */
  readonly fit?: FitBounds;
  /** AVIF effort by output size; without it, effort 2 at every size. */
  readonly avif?: AvifEffort;
}

export interface FitBounds {
  readonly maxBytes: number;
  /** The qualities the URL contract allows: a lowered quality is one of them, so it names a real variant. */
  readonly qualities: readonly number[];
  readonly minQuality: number;
  readonly maxReencodes: number;
}

export interface AvifEffort {
  readonly effort: number;
  readonly reducedEffort: number;
  /** Outputs with more pixels than this are encoded at `reducedEffort`. */
  readonly maxFullEffortPixels: number;
}

export interface ResizedImage {
  readonly body: Buffer;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  /** The quality the body was encoded at (lower than asked when it was fitted); none for PNG. */
  readonly quality?: number;
  /** How many extra encodes fitting took (0 when the first one was kept or fitting was off). */
  readonly reencodes?: number;
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

  let pixels: { data: Buffer; info: OutputInfo };
  try {
    // Decoded and resized once, kept as pixels: fitting re-encodes these, never the original. They
    // are 8-bit, since 'srgb' is libvips' 8-bit sRGB (16-bit sources come out uchar: resize.test.ts).
    pixels = await sharp(input, {
      limitInputPixels: limits.maxInputPixels,
      // 'truncated' rejects cut-off files instead of serving a half-grey image forever from the cache.
      failOn: 'truncated',
      autoOrient: true,
    })
      .resize(resize)
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new HttpError(422, 'Resize.BadImage', 'the original could not be decoded', { cause: error });
  }
  const { width: outWidth, height: outHeight, channels } = pixels.info;
  const effort = avifEffortFor(outWidth * outHeight, limits.avif);
  const encodeAt = (quality: number): Promise<Buffer> =>
    encode(
      sharp(pixels.data, { raw: { width: outWidth, height: outHeight, channels } }),
      format,
      quality,
      effort,
    );

  const base = { contentType: CONTENT_TYPES[format], width: outWidth, height: outHeight };
  if (format === 'png') return { ...base, body: await encodeAt(request.quality) };
  const first = await encodeAt(request.quality);
  if (!limits.fit || first.byteLength <= limits.fit.maxBytes) {
    return { ...base, body: first, quality: request.quality, reencodes: 0 };
  }
  let reencodes = 0;
  for (const quality of fitQualities(request.quality, limits.fit)) {
    reencodes += 1;
    const body = await encodeAt(quality);
    if (body.byteLength <= limits.fit.maxBytes) return { ...base, body, quality, reencodes };
  }
  // Nothing fits: the asked-for quality, which goes to S3 and a redirect (no size cap there).
  return { ...base, body: first, quality: request.quality, reencodes };
}

type EncodedFormat = keyof typeof CONTENT_TYPES;

function encode(image: Sharp, format: EncodedFormat, quality: number, avifEffort: number): Promise<Buffer> {
  switch (format) {
    case 'jpeg':
      // Baseline, not progressive: progressive costs ~12% more CPU per miss and buys little at ≤ 1920 px.
      return image.jpeg({ quality }).toBuffer();
    case 'png':
      return image.png({ compressionLevel: 6 }).toBuffer();
    case 'webp':
      return image.webp({ quality, effort: 4 }).toBuffer();
    case 'avif':
      return image.avif({ quality, effort: avifEffort }).toBuffer();
  }
}

/**
 * AVIF encoding dominates latency on a miss and grows with effort much faster than it saves bytes
 * (bench, synthetic sources: above ~1 MP effort 2 took 2–5× the time of effort 0 for 1–17% fewer
 * bytes; below it the saving reached 35% on smooth sources, at tens to hundreds of ms), so large
 * outputs get the reduced effort. Lowering the effort keeps AVIF bytes under the AVIF key; the
 * alternative, an uncached redirect to the WebP variant, would cost every later viewer of that URL
 * a function invocation and a round trip (README, AVIF).
 */
export function avifEffortFor(pixels: number, avif: AvifEffort | undefined): number {
  if (!avif) return 2;
  return pixels > avif.maxFullEffortPixels ? avif.reducedEffort : avif.effort;
}

/**
 * The qualities to try, in order, when a lossy result is over the cap: allowed qualities below the
 * asked one and not below `minQuality`, at most `maxReencodes` of them, the last one always the
 * lowest allowed (so the final try is the one most likely to fit).
 */
export function fitQualities(asked: number, bounds: FitBounds): number[] {
  const lower = [...new Set(bounds.qualities)]
    .filter((q) => q < asked && q >= bounds.minQuality)
    .sort((a, b) => b - a);
  if (lower.length <= bounds.maxReencodes) return lower;
  if (bounds.maxReencodes === 0) return [];
  return [...lower.slice(0, bounds.maxReencodes - 1), lower[lower.length - 1] as number];
}
