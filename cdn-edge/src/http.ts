import type { EdgeConfig } from './config.ts';
import { HttpError } from './errors.ts';

/** A response before it is shaped for CloudFront (or for the local CDN). Header names lowercase. */
export interface PlainResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
}

/**
 * Lambda@Edge caps a response generated in an origin-response trigger at 1 MB, headers and the
 * base64-encoded body included. Base64 grows a body by 4/3; 16 KB is kept for the headers.
 */
export const MAX_GENERATED_BODY_BYTES = Math.floor((1024 * 1024 - 16 * 1024) / 4) * 3;

/**
 * The single place where errors become responses. Client errors are cached for `errorMaxAge`
 * (a hot broken URL must not reach the resizer on every request, yet a fixed original must show up
 * soon); 503s only for their Retry-After; bugs (not HttpError) become a 500 that is never cached.
 */
export function errorResponse(error: unknown, cache: EdgeConfig['cache']): PlainResponse {
  if (!(error instanceof HttpError)) {
    return {
      status: 500,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ error: { code: 'Internal.Error', message: 'internal error' } }),
    };
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (error.retryAfter !== undefined) {
    headers['retry-after'] = String(error.retryAfter);
    headers['cache-control'] = `public, max-age=${error.retryAfter}`;
  } else {
    headers['cache-control'] = `public, max-age=${cache.errorMaxAge}`;
  }
  return {
    status: error.status,
    headers,
    body: JSON.stringify({ error: { code: error.code, message: error.message } }),
  };
}
