import type { EdgeConfig } from './config.ts';
import { verifySignature } from './signature.ts';
import { derivedUri, isDerivedUri, negotiateFormat, parseDerivedUri, parsePublicUri } from './url.ts';

export interface ViewerInput {
  readonly uri: string;
  /** Raw query string, without "?". */
  readonly querystring: string;
  readonly accept: string | undefined;
}

/**
 * Turns a viewer URL into the derived URI that is both the CloudFront cache key and the S3 key of
 * the result. The format comes from `Accept` and goes into the URI, so CloudFront's cache never
 * keys on the whole Accept header (downstream caches get `Vary: Accept` from the stack's response
 * headers policy on public URLs).
 * Throws HttpError (400/403) for anything outside the contract.
 */
export function rewriteViewerRequest(input: ViewerInput, config: EdgeConfig): string {
  if (isDerivedUri(input.uri, config)) {
    // Derived URLs are reachable directly (the origin-response redirect for big images uses them);
    // they pass the same checks, including the signature.
    const request = parseDerivedUri(input.uri, config);
    const sig = new URLSearchParams(input.querystring).get('sig') ?? undefined;
    verifySignature(request, sig, config.signing);
    return derivedUri(request, config);
  }
  const { spec, sig } = parsePublicUri(input.uri, input.querystring, config);
  verifySignature(spec, sig, config.signing);
  return derivedUri({ ...spec, format: negotiateFormat(input.accept, config) }, config);
}
