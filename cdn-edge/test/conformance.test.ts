import type { CloudFrontRequestEvent, CloudFrontResponseEvent, CloudFrontResultResponse } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  cloudFrontHeaders,
  originResponseEvent,
  s3ErrorResponse,
  viewerRequest,
  viewerRequestEvent,
} from '../local/cloudfront-events.ts';
import {
  CloudFrontValidationError,
  invokeAtEdge,
  isDisallowedHeader,
  lambdaResultViolations,
} from '../local/conformance.ts';

function withEventType<E extends CloudFrontRequestEvent | CloudFrontResponseEvent>(
  event: E,
  eventType: string,
): E {
  const record = event.Records[0];
  if (record) (record.cf.config as { eventType: string }).eventType = eventType;
  return event;
}

const viewerEvent = () => viewerRequestEvent(viewerRequest('/400x/a.jpg', 'q=80', { Accept: 'image/webp' }));
const originEvent = () =>
  originResponseEvent(viewerRequest('/derived/400x0/inside/q80/webp/a.jpg'), s3ErrorResponse('403'));

/** A good generated response, changed by `patch`. */
function generated(patch: Partial<CloudFrontResultResponse> = {}): CloudFrontResultResponse {
  return {
    status: '400',
    statusDescription: 'Bad Request',
    headers: cloudFrontHeaders({ 'Content-Type': 'application/json' }),
    body: '{"error":{}}',
    bodyEncoding: 'text',
    ...patch,
  };
}

/** The received S3 response, rewritten in place as a 200 image (the right way). */
function rewritten(event: CloudFrontResponseEvent, patch: Partial<CloudFrontResultResponse> = {}) {
  const response = structuredClone(event.Records[0]?.cf.response) as CloudFrontResultResponse & {
    headers: NonNullable<CloudFrontResultResponse['headers']>;
  };
  response.status = '200';
  response.statusDescription = 'OK';
  response.headers['content-type'] = [{ key: 'Content-Type', value: 'image/webp' }];
  response.body = Buffer.from('image').toString('base64');
  response.bodyEncoding = 'base64';
  return Object.assign(response, patch);
}

const rules = (violations: Array<{ rule: string }>) => violations.map((v) => v.rule);

describe('CloudFront conformance of Lambda@Edge results', () => {
  describe('accepted', () => {
    it('a forwarded viewer request with a rewritten uri and query string', () => {
      const event = viewerEvent();
      const request = {
        ...structuredClone(event.Records[0]?.cf.request),
        uri: '/derived/x.jpg',
        querystring: '',
      };

      expect(lambdaResultViolations(event, request)).toEqual([]);
    });

    it('a generated viewer-request response', () => {
      expect(lambdaResultViolations(viewerEvent(), generated())).toEqual([]);
    });

    it('an origin response rewritten in place, read-only headers kept', () => {
      const event = originEvent();

      expect(lambdaResultViolations(event, rewritten(event))).toEqual([]);
    });
  });

  describe('headers', () => {
    it('refuses an origin-response result that deletes transfer-encoding (a new response object)', () => {
      const event = originEvent();

      const violations = lambdaResultViolations(event, generated({ status: '200' }));

      expect(violations).toEqual([
        {
          rule: 'read-only-header',
          message: 'origin-response cannot delete the read-only header "transfer-encoding"',
        },
      ]);
    });

    it('refuses a changed read-only header', () => {
      const event = originEvent();
      const result = rewritten(event);
      result.headers['transfer-encoding'] = [{ key: 'Transfer-Encoding', value: 'gzip' }];

      expect(lambdaResultViolations(event, result)).toEqual([
        {
          rule: 'read-only-header',
          message: 'origin-response cannot change the read-only header "transfer-encoding"',
        },
      ]);
    });

    it('refuses a read-only header added to a generated response (content-length from viewer-request)', () => {
      const result = generated();
      result.headers = { ...result.headers, 'content-length': [{ key: 'Content-Length', value: '12' }] };

      expect(rules(lambdaResultViolations(viewerEvent(), result))).toEqual(['read-only-header']);
    });

    it('allows content-length in an origin-response result (read-only only for other event types)', () => {
      const event = originEvent();
      const result = rewritten(event);
      result.headers['content-length'] = [{ key: 'Content-Length', value: '5' }];

      expect(lambdaResultViolations(event, result)).toEqual([]);
    });

    it.each([
      'connection',
      'x-cache',
      'x-amz-cf-pop',
      'x-edge-location',
      'x-amzn-requestid',
      'x-forwarded-proto',
    ])('refuses the disallowed header %s', (name) => {
      const result = generated();
      result.headers = { ...result.headers, [name]: [{ key: name, value: 'x' }] };

      expect(lambdaResultViolations(viewerEvent(), result)).toEqual([
        { rule: 'disallowed-header', message: `viewer-request cannot add the disallowed header "${name}"` },
      ]);
    });

    it('tells disallowed headers from S3 ones that are allowed', () => {
      expect(['X-Amz-Cf-Id', 'X-Edge-Origin-Shield-Skipped', 'keep-alive'].map(isDisallowedHeader)).toEqual([
        true,
        true,
        true,
      ]);
      expect(['x-amz-request-id', 'x-amz-id-2', 'vary', 'x-cache-status'].map(isDisallowedHeader)).toEqual([
        false,
        false,
        false,
        false,
      ]);
    });

    it.each([
      ['a key that is not lowercase', { 'Content-Type': [{ key: 'Content-Type', value: 'text/plain' }] }],
      ['a value that is not an array', { 'content-type': { key: 'Content-Type', value: 'text/plain' } }],
      ['a value that is not a string', { 'retry-after': [{ key: 'Retry-After', value: 3 }] }],
      ['a CR/LF in a value', { location: [{ key: 'Location', value: '/a\r\nSet-Cookie: x=1' }] }],
      [
        'a key that names another header',
        { 'content-type': [{ key: 'Content-Length', value: 'text/plain' }] },
      ],
    ])('refuses headers with %s', (_, headers) => {
      const result = generated({ headers: headers as never });

      expect(rules(lambdaResultViolations(viewerEvent(), result))).toEqual(['header-shape']);
    });
  });

  describe('status and body', () => {
    it.each([
      [{ status: 200 as unknown as string }, 'status must be a string, got number'],
      [{ status: '199' }, 'status "199" is not between 200 and 599'],
      [{ status: '600' }, 'status "600" is not between 200 and 599'],
      [{ bodyEncoding: 'gzip' as 'text' }, 'bodyEncoding must be "text" or "base64", got "gzip"'],
      [
        { body: 'not base64!', bodyEncoding: 'base64' as const },
        'body is marked base64 but is not valid base64',
      ],
      [{ status: '204' }, 'a 204 generated by viewer-request must have no body'],
    ])('refuses %j', (patch, message) => {
      expect(lambdaResultViolations(viewerEvent(), generated(patch)).map((v) => v.message)).toEqual([
        message,
      ]);
    });

    it('caps a viewer-request response at 40 KB, counting headers', () => {
      const headers = cloudFrontHeaders({ 'Content-Type': 'text/plain' }); // 26 bytes as sent
      const fits = generated({ headers, body: 'x'.repeat(40 * 1024 - 26) });
      const over = generated({ headers, body: 'x'.repeat(40 * 1024 - 25) });

      expect(lambdaResultViolations(viewerEvent(), fits)).toEqual([]);
      expect(lambdaResultViolations(viewerEvent(), over)).toEqual([
        {
          rule: 'size',
          message:
            'the generated response is 40961 bytes with its headers, over the viewer-request limit of 40960',
        },
      ]);
    });

    it('caps an origin-response body at 1 MB as sent, base64 counted encoded', () => {
      const event = originEvent();
      // 786,432 raw bytes are 1,048,576 in base64: the body alone fills the megabyte.
      const result = rewritten(event, { body: Buffer.alloc(786_432).toString('base64') });

      expect(rules(lambdaResultViolations(event, result))).toEqual(['size']);
    });

    it('refuses a status change in viewer-response', () => {
      const event = withEventType(originEvent(), 'viewer-response');
      const response = structuredClone(event.Records[0]?.cf.response) as CloudFrontResultResponse;

      expect(lambdaResultViolations(event, { ...response, status: '404' })).toEqual([
        { rule: 'status', message: 'viewer-response cannot change the status (403 → 404)' },
      ]);
    });
  });

  describe('forwarded requests', () => {
    it.each([
      [{ querystring: 'a=1 2' }, 'querystring'],
      [{ querystring: 'a=1#frag' }, 'querystring'],
      [{ uri: `/${'a'.repeat(8191)}` }, 'uri'],
      [{ uri: 'derived/a.jpg' }, 'uri'],
    ])('refuses %j', (patch, rule) => {
      const event = viewerEvent();
      const request = { ...structuredClone(event.Records[0]?.cf.request), ...patch };

      expect(rules(lambdaResultViolations(event, request))).toEqual([rule]);
    });

    it('refuses a forwarded request whose Host changed (read-only in viewer-request)', () => {
      const event = viewerEvent();
      const request = structuredClone(event.Records[0]?.cf.request);
      if (request) request.headers.host = [{ key: 'Host', value: 'elsewhere.example' }];

      expect(rules(lambdaResultViolations(event, request))).toEqual(['read-only-header']);
    });

    it('checks origin-request against its own read-only list', () => {
      const event = withEventType(viewerEvent(), 'origin-request');
      const request = structuredClone(event.Records[0]?.cf.request);
      if (request) request.headers['accept-encoding'] = [{ key: 'Accept-Encoding', value: 'br' }];

      expect(rules(lambdaResultViolations(event, request))).toEqual(['read-only-header']);
    });
  });

  describe('invokeAtEdge', () => {
    it('gives the function its own copy of the event and checks the result against the original', async () => {
      const event = originEvent();
      const handler = async (e: CloudFrontResponseEvent) => {
        const response = e.Records[0]?.cf.response as CloudFrontResultResponse & { headers: object };
        (response.headers as Record<string, unknown>)['transfer-encoding'] = undefined;
        return response;
      };

      const error = await invokeAtEdge(handler, event).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(CloudFrontValidationError);
      expect((error as Error).message).toBe(
        'CloudFront would refuse this origin-response result with a 502: origin-response cannot delete the read-only header "transfer-encoding"',
      );
      expect(event.Records[0]?.cf.response.headers['transfer-encoding']).toBeDefined();
    });

    it('refuses a result that is not an object', async () => {
      await expect(invokeAtEdge(async () => undefined, viewerEvent())).rejects.toThrow(
        'the function returned undefined, not an object',
      );
    });
  });
});
