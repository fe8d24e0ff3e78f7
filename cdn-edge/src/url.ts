import type { EdgeConfig, Fit } from './config.ts';
import { badRequest } from './errors.ts';

/**
 * The URL contract (see README.md). This module is bundled into the viewer-request function, so it
 * must stay free of sharp, zod and the AWS SDK.
 */

export type OutputFormat = 'avif' | 'webp' | 'jpeg' | 'png' | 'auto';

/** A resize request, normalised: two URLs that mean the same image give equal specs. */
export interface ResizeSpec {
  /** 0 = derived from the other side and the aspect ratio. */
  readonly width: number;
  readonly height: number;
  readonly fit: Fit;
  readonly quality: number;
  /** Decoded path of the original, relative to the route, no leading slash. */
  readonly path: string;
}

export interface DerivedRequest extends ResizeSpec {
  readonly format: OutputFormat;
}

const FITS: ReadonlySet<string> = new Set(['cover', 'contain', 'fill', 'inside', 'outside']);
const FORMATS: ReadonlySet<string> = new Set(['avif', 'webp', 'jpeg', 'png', 'auto']);
const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  'jpg',
  'jpeg',
  'png',
  'webp',
  'gif',
  'avif',
  'tif',
  'tiff',
]);
const MAX_PATH_LENGTH = 1024;
const SIZE_TOKEN = /^(?:([1-9]\d{0,4})x([1-9]\d{0,4})?|x([1-9]\d{0,4})|([1-9]\d{0,4}))$/;
const CANONICAL_SIZE = /^(0|[1-9]\d{0,4})x(0|[1-9]\d{0,4})$/;
const CANONICAL_QUALITY = /^q([1-9]\d{0,2})$/;
// Reached only after one round of decoding: what is left of `%xx` is a second encoding layer.
const STILL_ENCODED = /%[0-9a-f]{2}/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f]/;

function sizeList(values: readonly number[]): string {
  return [...values].sort((a, b) => a - b).join(', ');
}

function checkWidth(width: number, config: EdgeConfig): void {
  if (width !== 0 && !config.widths.includes(width)) {
    throw badRequest('BadSize', `width ${width} is not allowed; allowed widths: ${sizeList(config.widths)}`);
  }
}

function checkHeight(height: number, config: EdgeConfig): void {
  if (height !== 0 && !config.heights.includes(height)) {
    throw badRequest(
      'BadSize',
      `height ${height} is not allowed; allowed heights: ${sizeList(config.heights)}`,
    );
  }
}

function checkQuality(quality: number, config: EdgeConfig): void {
  if (!config.qualities.includes(quality)) {
    throw badRequest(
      'BadQuality',
      `quality ${quality} is not allowed; allowed: ${sizeList(config.qualities)}`,
    );
  }
}

/** Decodes and validates the path segments of the original; returns the S3-style relative key. */
function decodePath(segments: readonly string[]): string {
  if (segments.length === 0) throw badRequest('BadPath', 'no image path after the size');
  const decoded = segments.map((segment) => {
    if (segment === '') throw badRequest('BadPath', 'empty path segment');
    let value: string;
    try {
      value = decodeURIComponent(segment);
    } catch {
      throw badRequest('BadEncoding', 'malformed percent-encoding');
    }
    // A lone surrogate passes decodeURIComponent when it arrives unencoded, but it is not UTF-8
    // (Lambda@Edge requires UTF-8 URIs: "Restrictions on all edge functions" › URI encoding) and
    // encodeURIComponent would throw URIError on the way back into the derived URI.
    if (!value.isWellFormed())
      throw badRequest('BadEncoding', 'the path is not valid UTF-8 (lone surrogate)');
    if (STILL_ENCODED.test(value)) throw badRequest('DoubleEncoded', 'percent-encoding must be applied once');
    if (value === '.' || value === '..') throw badRequest('Traversal', 'dot segments are not allowed');
    if (value.includes('/') || value.includes('\\'))
      throw badRequest('BadPath', 'encoded slashes are not allowed');
    if (CONTROL.test(value)) throw badRequest('BadPath', 'control characters are not allowed');
    return value;
  });
  const path = decoded.join('/');
  if (path.length > MAX_PATH_LENGTH) throw badRequest('BadPath', 'path too long');
  const last = decoded[decoded.length - 1] ?? '';
  const dot = last.lastIndexOf('.');
  const extension = dot > 0 ? last.slice(dot + 1).toLowerCase() : '';
  if (!IMAGE_EXTENSIONS.has(extension)) {
    throw badRequest('NotAnImagePath', `extension must be one of ${[...IMAGE_EXTENSIONS].join(', ')}`);
  }
  return path;
}

/** Percent-encodes each segment of a key, as it appears in a URI (and in CloudFront's cache key). */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function singleParams(querystring: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(querystring)) {
    // Unknown parameters are dropped (they never reach the cache key); known ones must be unique.
    if (key !== 'fit' && key !== 'q' && key !== 'sig') continue;
    if (params.has(key)) throw badRequest('DuplicateParameter', `"${key}" given more than once`);
    params.set(key, value);
  }
  return params;
}

/** Fit only matters when both sides are fixed; folding it keeps `800x` and `800x?fit=cover` one entry. */
function normaliseFit(width: number, height: number, fit: Fit): Fit {
  return width === 0 || height === 0 ? 'inside' : fit;
}

/**
 * Parses a public URL `/<preset | W x H | W x | x H | W>/<path>?fit=&q=&sig=` into a normalised spec.
 * `uri` is the raw path as CloudFront gives it (still percent-encoded), `querystring` without `?`.
 */
export function parsePublicUri(
  uri: string,
  querystring: string,
  config: EdgeConfig,
): { spec: ResizeSpec; sig: string | undefined } {
  if (!uri.startsWith('/')) throw badRequest('BadPath', 'path must start with "/"');
  const [, token = '', ...rest] = uri.split('/');
  const params = singleParams(querystring);

  let width: number;
  let height: number;
  let fit: Fit;
  const preset = Object.hasOwn(config.presets, token) ? config.presets[token] : undefined;
  if (preset) {
    ({ width, height, fit } = preset);
  } else {
    const m = SIZE_TOKEN.exec(token.toLowerCase());
    if (!m) {
      throw badRequest(
        'BadSize',
        `unknown size "${token.slice(0, 32)}"; use a preset (${Object.keys(config.presets).join(', ')}) or WxH`,
      );
    }
    width = Number(m[1] ?? m[4] ?? 0);
    height = Number(m[2] ?? m[3] ?? 0);
    fit = config.defaultFit;
  }
  checkWidth(width, config);
  checkHeight(height, config);

  const fitParam = params.get('fit');
  if (fitParam !== undefined) {
    if (!FITS.has(fitParam)) throw badRequest('BadFit', `fit must be one of ${[...FITS].join(', ')}`);
    fit = fitParam as Fit;
  }
  let quality = config.defaultQuality;
  const q = params.get('q');
  if (q !== undefined) {
    if (!/^[1-9]\d{0,2}$/.test(q)) throw badRequest('BadQuality', 'q must be an integer');
    quality = Number(q);
    checkQuality(quality, config);
  }
  const path = decodePath(rest);
  return {
    spec: { width, height, fit: normaliseFit(width, height, fit), quality, path },
    sig: params.get('sig'),
  };
}

/** Picks the output format from `Accept`; `auto` means "JPEG, or PNG when the source has alpha". */
export function negotiateFormat(accept: string | undefined, config: EdgeConfig): OutputFormat {
  if (!accept) return 'auto';
  const accepted = new Set<string>();
  for (const part of accept.toLowerCase().split(',')) {
    const [type = '', ...options] = part.split(';').map((s) => s.trim());
    const refused = options.some((o) => /^q=0(?:\.0{0,3})?$/.test(o));
    if (!refused) accepted.add(type);
  }
  if (config.formats.avif && accepted.has('image/avif')) return 'avif';
  if (config.formats.webp && accepted.has('image/webp')) return 'webp';
  return 'auto';
}

/**
 * Where every variant of the original at `path` lives, and nothing else directly under it:
 * `<prefix><path>/`. The path comes first so that one prefix holds all of an original's variants
 * (the resize budget counts them, the invalidation function deletes them). Each variant is one
 * segment (see derivedKey), so listing this prefix with the delimiter `/` returns exactly the
 * variants of `path` as objects, while the variants of an original nested under it (`a.jpg` and
 * `a.jpg/b.jpg` may both exist in S3) are folded into one common prefix and left alone.
 */
export function variantsPrefix(path: string, config: Pick<EdgeConfig, 'derived'>): string {
  return `${config.derived.prefix}${path}/`;
}

/**
 * The S3 key of a derived image, also its cache key: `<prefix><path>/<W>x<H>-<fit>-q<Q>-<format>`.
 * The last segment has no file extension on purpose: an original's name always has one, and the
 * previous layout (`<prefix><W>x<H>/<fit>/q<Q>/<format>/<path>`) always ended with the original's
 * name, so no key of this layout can equal an old key or name an original, and old keys can be
 * removed by extension (README, "Key layout").
 */
export function derivedKey(request: DerivedRequest, config: EdgeConfig): string {
  return `${variantsPrefix(request.path, config)}${variantName(request)}`;
}

/** The last segment of a derived key: one variant of one original. */
export function variantName(request: Omit<DerivedRequest, 'path'>): string {
  return `${request.width}x${request.height}-${request.fit}-q${request.quality}-${request.format}`;
}

export function derivedUri(request: DerivedRequest, config: EdgeConfig): string {
  return `/${encodePath(derivedKey(request, config))}`;
}

/** True when the URI is in the derived namespace (and so must be parsed with parseDerivedUri). */
export function isDerivedUri(uri: string, config: EdgeConfig): boolean {
  return uri.startsWith(`/${config.derived.prefix}`);
}

/**
 * Parses a derived URI. Only the exact canonical form is accepted, so no two derived URIs name the
 * same image and every value is one the config allows.
 */
export function parseDerivedUri(uri: string, config: EdgeConfig): DerivedRequest {
  if (!isDerivedUri(uri, config)) throw badRequest('NotDerived', 'not a derived image path');
  const segments = uri.slice(config.derived.prefix.length + 1).split('/');
  // split() always yields at least one element: the last is the variant, the rest the path.
  const variant = segments.pop() as string;
  const parts = variant.split('-');
  if (parts.length !== 4) {
    throw badRequest('BadVariant', 'derived variant must be <W>x<H>-<fit>-q<Q>-<format>');
  }
  const [size, fitToken, qualityToken, format] = parts as [string, string, string, string];
  const sizeMatch = CANONICAL_SIZE.exec(size);
  if (!sizeMatch) throw badRequest('BadSize', 'derived size must be <W>x<H>');
  const width = Number(sizeMatch[1]);
  const height = Number(sizeMatch[2]);
  if (width === 0 && height === 0) throw badRequest('BadSize', 'a width or a height is needed');
  checkWidth(width, config);
  checkHeight(height, config);
  if (!FITS.has(fitToken) || normaliseFit(width, height, fitToken as Fit) !== fitToken) {
    throw badRequest('BadFit', 'fit is not canonical');
  }
  const qualityMatch = CANONICAL_QUALITY.exec(qualityToken);
  if (!qualityMatch) throw badRequest('BadQuality', 'derived quality must be q<N>');
  const quality = Number(qualityMatch[1]);
  checkQuality(quality, config);
  if (!FORMATS.has(format)) throw badRequest('BadFormat', 'unknown format');
  if ((format === 'avif' && !config.formats.avif) || (format === 'webp' && !config.formats.webp)) {
    throw badRequest('BadFormat', `${format} output is disabled`);
  }
  if (segments.length === 0) throw badRequest('BadPath', 'no image path before the variant');
  const path = decodePath(segments);
  return { width, height, fit: fitToken as Fit, quality, format: format as OutputFormat, path };
}

/** What the HMAC signs: the normalised spec, so every equivalent URL carries the same signature. */
export function signingPayload(spec: ResizeSpec): string {
  return `${spec.width}x${spec.height}/${spec.fit}/q${spec.quality}/${spec.path}`;
}
