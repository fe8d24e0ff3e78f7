import type { CloudFrontHeaders, CloudFrontResultResponse } from 'aws-lambda';
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
  if (typeof response.body === 'string') {
    result.body = response.body;
    result.bodyEncoding = 'text';
  } else if (response.body) {
    result.body = response.body.toString('base64');
    result.bodyEncoding = 'base64';
  }
  return result;
}

export function firstHeader(headers: CloudFrontHeaders, name: string): string | undefined {
  return headers[name]?.[0]?.value;
}

/** One JSON line per event worth knowing about; never the event itself (it carries viewer data). */
export function logLine(entry: Record<string, unknown>): void {
  console.log(JSON.stringify(entry));
}
