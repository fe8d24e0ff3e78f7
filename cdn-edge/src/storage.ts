import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { HttpError } from './errors.ts';
import type { ObjectLocation } from './routing.ts';

/** What the resizer needs from storage; tests and the local CDN pass their own. */
export interface ImageStore {
  getOriginal(location: ObjectLocation, maxBytes: number): Promise<Buffer>;
  putDerived(
    location: ObjectLocation,
    body: Buffer,
    meta: { contentType: string; cacheControl: string; metadata?: Record<string, string> },
  ): Promise<void>;
}

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'ServiceUnavailable',
]);

/**
 * Maps an S3 failure to what the viewer sees. Missing → 404. AccessDenied → 404 as well: the role
 * may list only under the derived prefix (the resize budget), not the originals, and without
 * s3:ListBucket S3 answers AccessDenied for a key that does not exist, so the two cannot be told apart; the distinct code keeps a real IAM mistake visible in
 * logs. Throttling and S3 5xx → 503 with Retry-After (nothing is wrong with the URL). Anything else
 * → 502: S3 said something we did not expect, which is not the viewer's fault.
 */
export function mapS3Error(error: unknown, retryAfterSeconds: number): HttpError {
  const name = error instanceof Error ? error.name : '';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return new HttpError(404, 'Origin.NotFound', 'original image not found', { cause: error });
  }
  if (name === 'AccessDenied' || status === 403) {
    return new HttpError(404, 'Origin.AccessDenied', 'original image not found', { cause: error });
  }
  if (THROTTLING.has(name) || status === undefined || status >= 500) {
    // No status at all means the request never got an answer (network, timeout).
    return new HttpError(503, 'Origin.Unavailable', 'storage is busy, retry shortly', {
      cause: error,
      retryAfter: retryAfterSeconds,
    });
  }
  return new HttpError(502, 'Origin.Error', 'storage returned an unexpected error', { cause: error });
}

export class S3ImageStore implements ImageStore {
  readonly #client: S3Client;
  readonly #retryAfter: number;

  constructor(client: S3Client, options: { retryAfterSeconds: number }) {
    this.#client = client;
    this.#retryAfter = options.retryAfterSeconds;
  }

  async getOriginal(location: ObjectLocation, maxBytes: number): Promise<Buffer> {
    let output: GetObjectCommandOutput;
    try {
      output = await this.#client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    } catch (error) {
      throw mapS3Error(error, this.#retryAfter);
    }
    if (output.ContentLength !== undefined && output.ContentLength > maxBytes) {
      // Checked before reading: the body of a huge original never enters memory.
      (output.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new HttpError(413, 'Resize.TooLarge', `the original is over ${maxBytes} bytes`);
    }
    if (!output.Body) throw new HttpError(502, 'Origin.Error', 'storage returned no body');
    let bytes: Uint8Array;
    try {
      bytes = await output.Body.transformToByteArray();
    } catch (error) {
      throw mapS3Error(error, this.#retryAfter);
    }
    if (bytes.byteLength > maxBytes)
      throw new HttpError(413, 'Resize.TooLarge', `the original is over ${maxBytes} bytes`);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async putDerived(
    location: ObjectLocation,
    body: Buffer,
    meta: { contentType: string; cacheControl: string; metadata?: Record<string, string> },
  ): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Body: body,
        ContentType: meta.contentType,
        CacheControl: meta.cacheControl,
        Metadata: meta.metadata,
      }),
    );
  }
}
