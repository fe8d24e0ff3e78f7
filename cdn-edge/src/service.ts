import { checkBudget, type VariantLister } from './budget.ts';
import type { EdgeConfig } from './config.ts';
import { HttpError } from './errors.ts';
import { MAX_GENERATED_BODY_BYTES, type PlainResponse } from './http.ts';
import type { ResizeLimiter } from './limiter.ts';
import { resizeImage } from './resize.ts';
import { routeOriginal } from './routing.ts';
import { sign } from './signature.ts';
import type { ImageStore } from './storage.ts';
import { derivedKey, derivedUri, parseDerivedUri } from './url.ts';

/** User metadata key of a derived object holding the quality its bytes were encoded at. */
export const QUALITY_METADATA = 'image-quality';
/** How S3 returns that metadata, and the header a generated response carries for the same. */
export const QUALITY_HEADER = `x-amz-meta-${QUALITY_METADATA}`;

export interface ResizeServiceDeps {
  readonly config: EdgeConfig;
  readonly store: ImageStore;
  readonly limiter: ResizeLimiter;
  readonly log: (entry: Record<string, unknown>) => void;
  /** Counts an original's stored variants for the resize budget; without it no budget applies. */
  readonly variants?: VariantLister;
  readonly now?: () => number;
}

/**
 * Produces the derived image named by `uri` (a cache miss): find the original by the routing rules,
 * resize it, write it back under the derived key so later misses are served by S3, and return it.
 * Throws HttpError for every expected failure.
 */
export async function generateDerived(uri: string, deps: ResizeServiceDeps): Promise<PlainResponse> {
  const { config, store, limiter, log } = deps;
  const request = parseDerivedUri(uri, config);
  const original = routeOriginal(request.path, config.routes);
  if (deps.variants) await checkBudget(request, { config, lister: deps.variants, now: deps.now ?? Date.now });

  const image = await limiter.run(async () => {
    const input = await store.getOriginal(original, config.limits.maxInputBytes);
    return resizeImage(input, request, {
      maxInputPixels: config.limits.maxInputPixels,
      // Lossy results are first brought under the generated-response cap (1 MB for origin triggers,
      // headers and base64 body included: "Quotas on Lambda@Edge", CloudFront Developer Guide,
      // cloudfront-limits.html#limits-lambda-at-edge) by lowering the quality within the config's
      // bounds; only what still does not fit goes to S3 and a redirect.
      fit: {
        maxBytes: MAX_GENERATED_BODY_BYTES,
        qualities: config.qualities,
        minQuality: config.fitToResponse.minQuality,
        maxReencodes: config.fitToResponse.maxReencodes,
      },
      avif: config.avif,
    });
  });
  if (image.reencodes) {
    log({
      level: 'info',
      code: 'Resize.QualityLowered',
      asked: request.quality,
      used: image.quality,
      reencodes: image.reencodes,
    });
  }

  const cacheControl = `public, max-age=${config.cache.successMaxAge}, immutable`;
  // The stored object is exactly what this URL serves inline, so every edge gets the same bytes, and
  // both say the quality used: S3 returns user metadata as `x-amz-meta-<name>` ("Working with object
  // metadata", S3 User Guide), and the generated response carries the same header.
  const qualityHeaders: Record<string, string> =
    image.quality === undefined ? {} : { [QUALITY_HEADER]: String(image.quality) };
  let stored = true;
  try {
    await store.putDerived({ bucket: config.derived.bucket, key: derivedKey(request, config) }, image.body, {
      contentType: image.contentType,
      cacheControl,
      ...(image.quality === undefined ? {} : { metadata: { [QUALITY_METADATA]: String(image.quality) } }),
    });
  } catch (error) {
    // The viewer still gets the image; only the next miss in another edge cache pays for it again.
    stored = false;
    log({
      level: 'warn',
      code: 'Derived.WriteFailed',
      error: error instanceof Error ? error.name : 'unknown',
    });
  }

  if (image.body.byteLength <= MAX_GENERATED_BODY_BYTES) {
    return {
      status: 200,
      headers: { 'content-type': image.contentType, 'cache-control': cacheControl, ...qualityHeaders },
      body: image.body,
    };
  }
  if (!stored) {
    throw new HttpError(
      503,
      'Resize.Unstored',
      'the resized image is too large to return and could not be stored',
      {
        retryAfter: config.limits.retryAfterSeconds,
      },
    );
  }
  // Too big for a generated response: send the viewer to the derived URL, now backed by S3.
  // no-store keeps CloudFront from caching the redirect in place of the image.
  const sig = config.signing ? `?sig=${sign(request, config.signing.secret)}` : '';
  return {
    status: 302,
    headers: { location: `${derivedUri(request, config)}${sig}`, 'cache-control': 'no-store' },
  };
}
