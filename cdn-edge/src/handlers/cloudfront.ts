import type { CloudFrontHeaders, CloudFrontResponse, CloudFrontResultResponse } from 'aws-lambda';
import type { PlainResponse } from '../http.ts';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  302: 'Found',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function headerKey(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** Shapes a plain response as a Lambda@Edge generated response (binary bodies go base64). */
export function toCloudFrontResult(response: PlainResponse): CloudFrontResultResponse {
  const headers: CloudFrontHeaders = {};
  for (const [name, value] of Object.entries(response.headers))
    headers[name] = [{ key: headerKey(name), value }];
  const result: CloudFrontResultResponse = {
    status: String(response.status),
    statusDescription: STATUS_TEXT[response.status] ?? '',
    headers,
  };
  setBody(result, response.body);
  return result;
}

/** Headers that describe the origin's body, which a generated answer replaces. */
const ORIGIN_BODY_HEADERS = ['content-length', 'content-type', 'content-encoding'];

/**
 * Replaces the origin's answer by `response` in the received response object itself, as an
 * origin-response trigger must: CloudFront refuses a result that deletes or changes a read-only
 * header of what it received (`transfer-encoding`, `via`), answering the viewer 502 ("the function
 * tried to delete read-only header, headerName : Transfer-Encoding", CodeGenieApp/serverless-express#369;
 * "Restrictions on all edge functions" › HTTP headers). So the received headers stay, except those
 * that described the origin's body (`content-length` above all), and ours are set over them. The
 * body field is always set, even empty, since an unset body means "send the origin's body" ("Update
 * HTTP responses in origin response triggers").
 */
export function replaceReceivedResponse(
  received: CloudFrontResponse,
  response: PlainResponse,
): CloudFrontResultResponse {
  const result: CloudFrontResultResponse & CloudFrontResponse = received;
  result.status = String(response.status);
  result.statusDescription = STATUS_TEXT[response.status] ?? '';
  for (const name of ORIGIN_BODY_HEADERS) delete result.headers[name];
  for (const [name, value] of Object.entries(response.headers))
    result.headers[name] = [{ key: headerKey(name), value }];
  setBody(result, response.body ?? '');
  return result;
}

function setBody(result: CloudFrontResultResponse, body: PlainResponse['body']): void {
  if (typeof body === 'string') {
    result.body = body;
    result.bodyEncoding = 'text';
  } else if (body) {
    result.body = body.toString('base64');
    result.bodyEncoding = 'base64';
  }
}

export function firstHeader(headers: CloudFrontHeaders, name: string): string | undefined {
  return headers[name]?.[0]?.value;
}

/** One JSON line per event worth knowing about; never the event itself (it carries viewer data). */
export function logLine(entry: Record<string, unknown>): void {
  console.log(JSON.stringify(entry));
}
