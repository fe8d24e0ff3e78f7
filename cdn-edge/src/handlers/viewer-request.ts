import middy from '@middy/core';
import type { CloudFrontRequestEvent, CloudFrontRequestResult } from 'aws-lambda';
import type { EdgeConfig } from '../config.ts';
import { bakedConfig } from '../edge-config.ts';
import { HttpError } from '../errors.ts';
import { errorResponse } from '../http.ts';
import { rewriteViewerRequest } from '../viewer.ts';
import { firstHeader, logLine, toCloudFrontResult } from './cloudfront.ts';

/**
 * viewer-request: validate and normalise the URL, fold the negotiated format into the URI (the
 * cache key) and drop the query string. Runs on every request, so it stays tiny: no sharp, no zod,
 * no SDK (see the bundle-size test).
 */
export function createViewerRequestHandler(config: EdgeConfig) {
  return async (event: CloudFrontRequestEvent): Promise<CloudFrontRequestResult> => {
    const request = event.Records[0]?.cf.request;
    if (!request) throw new Error('viewer-request event without a record');
    try {
      request.uri = rewriteViewerRequest(
        {
          uri: request.uri,
          querystring: request.querystring,
          accept: firstHeader(request.headers, 'accept'),
        },
        config,
      );
      request.querystring = '';
      return request;
    } catch (error) {
      if (!(error instanceof HttpError))
        logLine({ level: 'error', code: 'Internal.Error', error: String(error) });
      return toCloudFrontResult(errorResponse(error, config.cache));
    }
  };
}

// Made on the first event, not at import: the signing secret exists only in the bundle (see
// src/edge-config.ts), and tests and the local CDN import this module for its factory alone.
let viewerRequest: ReturnType<typeof createViewerRequestHandler> | undefined;
export const handler = middy((event: CloudFrontRequestEvent) => {
  viewerRequest ??= createViewerRequestHandler(bakedConfig());
  return viewerRequest(event);
});
