import { createHmac, timingSafeEqual } from 'node:crypto';
import type { EdgeConfig } from './config.ts';
import { HttpError } from './errors.ts';
import { isDerivedUri, parseDerivedUri, parsePublicUri, type ResizeSpec, signingPayload } from './url.ts';

/** Hex length of a signature: 128 bits of HMAC-SHA256 is plenty against forgery and keeps URLs short. */
const SIGNATURE_LENGTH = 32;

export function sign(spec: ResizeSpec, secret: string): string {
  return createHmac('sha256', secret).update(signingPayload(spec)).digest('hex').slice(0, SIGNATURE_LENGTH);
}

/**
 * Checks `sig` when signing is configured. A signature that is present is always checked, even when
 * signing is optional, so a wrong one is reported rather than silently ignored.
 */
export function verifySignature(
  spec: ResizeSpec,
  sig: string | undefined,
  signing: { required: boolean; secret: string } | undefined,
): void {
  if (!signing) return;
  if (sig === undefined) {
    if (signing.required)
      throw new HttpError(403, 'Url.SignatureRequired', 'this URL must be signed (sig=…)');
    return;
  }
  const expected = Buffer.from(sign(spec, signing.secret));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpError(403, 'Url.BadSignature', 'signature does not match');
  }
}

/**
 * Signs a public or derived URL (path and query, e.g. `/800x/a.jpg?q=60`) the way the resizer checks
 * it: what an application that renders pages calls, holding the same secret. Throws HttpError 400
 * for a URL the contract refuses anyway.
 */
export function signUrl(pathAndQuery: string, config: EdgeConfig & { signing: { secret: string } }): string {
  const mark = pathAndQuery.indexOf('?');
  const uri = mark < 0 ? pathAndQuery : pathAndQuery.slice(0, mark);
  const querystring = mark < 0 ? '' : pathAndQuery.slice(mark + 1);
  const spec = isDerivedUri(uri, config)
    ? parseDerivedUri(uri, config)
    : parsePublicUri(uri, querystring, config).spec;
  const params = new URLSearchParams(querystring);
  params.delete('sig');
  params.append('sig', sign(spec, config.signing.secret));
  return `${uri}?${params.toString()}`;
}
