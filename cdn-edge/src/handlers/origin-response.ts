import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import type { CloudFrontResponseEvent, CloudFrontResponseResult } from 'aws-lambda';
import { S3VariantLister } from '../budget.ts';
import { parseEdgeConfig } from '../config.ts';
import { bakedConfig } from '../edge-config.ts';
import { HttpError } from '../errors.ts';
import { errorResponse } from '../http.ts';
import { ResizeLimiter } from '../limiter.ts';
import { generateDerived, type ResizeServiceDeps } from '../service.ts';
import { S3ImageStore } from '../storage.ts';
import { isDerivedUri } from '../url.ts';
import { logLine, replaceReceivedResponse } from './cloudfront.ts';

/**
 * origin-response: when S3 has no derived object yet (403 without s3:ListBucket, 404 with it),
 * generate it into the received response (never a new object: see replaceReceivedResponse); every
 * other response passes through untouched.
 */
export function createOriginResponseHandler(deps: ResizeServiceDeps) {
  return async (event: CloudFrontResponseEvent): Promise<CloudFrontResponseResult> => {
    const cf = event.Records[0]?.cf;
    if (!cf) throw new Error('origin-response event without a record');
    const { request, response } = cf;
    if ((response.status !== '403' && response.status !== '404') || !isDerivedUri(request.uri, deps.config)) {
      return response;
    }
    try {
      return replaceReceivedResponse(response, await generateDerived(request.uri, deps));
    } catch (error) {
      const known = error instanceof HttpError;
      if (!known || error.status >= 500) {
        deps.log({
          level: known ? 'warn' : 'error',
          code: known ? error.code : 'Internal.Error',
          cause: known ? String((error.cause as Error | undefined)?.name ?? '') : String(error),
        });
      }
      return replaceReceivedResponse(response, errorResponse(error, deps.config.cache));
    }
  };
}

function defaultDeps(): ResizeServiceDeps {
  // Parsed with zod here (this bundle carries sharp anyway): a bad config fails loudly.
  const config = parseEdgeConfig(bakedConfig());
  // Lambda@Edge runs in the region nearest the viewer; the buckets stay in theirs.
  const client = new S3Client({ region: config.derived.region });
  return {
    config,
    store: new S3ImageStore(client, { retryAfterSeconds: config.limits.retryAfterSeconds }),
    limiter: new ResizeLimiter({
      maxConcurrent: config.limits.maxConcurrentResizes,
      maxQueued: config.limits.maxQueuedResizes,
      retryAfterSeconds: config.limits.retryAfterSeconds,
    }),
    log: logLine,
    variants: new S3VariantLister(client),
  };
}

// Made on the first event, once per instance, not at import: the signing secret exists only in
// the bundle (see src/edge-config.ts), and tests and the local CDN import this module for its
// factory alone.
let originResponse: ReturnType<typeof createOriginResponseHandler> | undefined;
export const handler = middy((event: CloudFrontResponseEvent) => {
  originResponse ??= createOriginResponseHandler(defaultDeps());
  return originResponse(event);
});
