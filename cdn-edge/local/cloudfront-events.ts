import { randomBytes } from 'node:crypto';
import type {
  CloudFrontHeaders,
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResponse,
  CloudFrontResponseEvent,
} from 'aws-lambda';

/**
 * The events the simulated CloudFront hands to the handlers, shared by the local CDN, the bench and
 * the tests so that all three feed the handlers what CloudFront would. Shapes: "Lambda@Edge event
 * structure" (CloudFront Developer Guide): header names lowercase, each an array of
 * `{ key, value }`, status a string.
 */

export interface Distribution {
  readonly distributionDomainName: string;
  readonly distributionId: string;
}

export const EXAMPLE_DISTRIBUTION: Distribution = {
  distributionDomainName: 'd111111abcdef8.cloudfront.net',
  distributionId: 'EDFDVBD6EXAMPLE',
};

/** Headers as CloudFront exposes them: lowercase name → `[{ key, value }]`, the key as sent. */
export function cloudFrontHeaders(headers: Readonly<Record<string, string>>): CloudFrontHeaders {
  const out: CloudFrontHeaders = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = [{ key: name, value }];
  return out;
}

/** The first value of each header, by lowercase name. */
export function plainHeaders(headers: CloudFrontHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(headers ?? {})) {
    const value = values[0]?.value;
    if (value !== undefined) out[name] = value;
  }
  return out;
}

interface EventOptions {
  readonly distribution?: Distribution;
  readonly requestId?: string;
}

function eventConfig<T extends 'viewer-request' | 'origin-response'>(eventType: T, options: EventOptions) {
  return {
    ...(options.distribution ?? EXAMPLE_DISTRIBUTION),
    eventType,
    requestId: options.requestId ?? requestId(),
  };
}

export function viewerRequestEvent(
  request: CloudFrontRequest,
  options: EventOptions = {},
): CloudFrontRequestEvent {
  return { Records: [{ cf: { config: eventConfig('viewer-request', options), request } }] };
}

export function originResponseEvent(
  request: CloudFrontRequest,
  response: CloudFrontResponse,
  options: EventOptions = {},
): CloudFrontResponseEvent {
  return { Records: [{ cf: { config: eventConfig('origin-response', options), request, response } }] };
}

/** A viewer's GET as viewer-request sees it. */
export function viewerRequest(uri: string, querystring = '', headers: Record<string, string> = {}) {
  return {
    clientIp: '203.0.113.178',
    method: 'GET',
    uri,
    querystring,
    headers: cloudFrontHeaders({ Host: EXAMPLE_DISTRIBUTION.distributionDomainName, ...headers }),
  } satisfies CloudFrontRequest;
}

/** The RFC 7231 date S3 sends. */
function httpDate(now: number): string {
  return new Date(now).toUTCString();
}

/**
 * S3's REST error response to a GET for a key that has no object, through Origin Access Control,
 * as origin-response receives it: 403 AccessDenied when the reader lacks s3:ListBucket (the resizer's
 * case), 404 NoSuchKey with it. S3 error responses are `application/xml` ("Error responses", S3 API
 * Reference) streamed with `transfer-encoding: chunked` and carry S3's request ids and `server:
 * AmazonS3`; CloudFront passes `transfer-encoding` to the function as a read-only header (issue 7;
 * CodeGenieApp/serverless-express#369 shows it in a real origin-response event).
 */
export function s3ErrorResponse(status: '403' | '404', now = Date.now()): CloudFrontResponse {
  return {
    status,
    statusDescription: status === '403' ? 'Forbidden' : 'Not Found',
    headers: cloudFrontHeaders({
      'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-amz-id-2': randomBytes(48).toString('base64'),
      'Content-Type': 'application/xml',
      'Transfer-Encoding': 'chunked',
      Date: httpDate(now),
      Server: 'AmazonS3',
    }),
  };
}

/** The XML body of that error (origin-response never sees it; the local CDN serves it on pass-through). */
export function s3ErrorBody(status: '403' | '404'): string {
  const [code, message] =
    status === '403' ? ['AccessDenied', 'Access Denied'] : ['NoSuchKey', 'The specified key does not exist.'];
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

/** S3's 200 to a GET of a stored object, as origin-response receives it. */
export function s3ObjectResponse(
  object: {
    contentLength: number;
    contentType?: string;
    cacheControl?: string;
    etag?: string;
    /** User metadata, returned by S3 as `x-amz-meta-<name>` headers. */
    metadata?: Record<string, string>;
  },
  now = Date.now(),
): CloudFrontResponse {
  const headers: Record<string, string> = {
    'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(),
    'x-amz-id-2': randomBytes(48).toString('base64'),
    Date: httpDate(now),
    'Accept-Ranges': 'bytes',
    'Content-Length': String(object.contentLength),
    Server: 'AmazonS3',
  };
  if (object.contentType) headers['Content-Type'] = object.contentType;
  if (object.cacheControl) headers['Cache-Control'] = object.cacheControl;
  if (object.etag) headers.ETag = object.etag;
  for (const [name, value] of Object.entries(object.metadata ?? {})) headers[`x-amz-meta-${name}`] = value;
  return { status: '200', statusDescription: 'OK', headers: cloudFrontHeaders(headers) };
}

function requestId(): string {
  // CloudFront's request ids are 56 base64url characters.
  return randomBytes(42).toString('base64url');
}
