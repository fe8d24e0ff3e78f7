import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { mapS3Error, S3ImageStore } from '../src/storage.ts';

/** The two methods of an SDK stream the store uses; reading it is recorded. */
function body(bytes: Buffer) {
  const stream = {
    read: false,
    destroyed: false,
    transformToByteArray: async () => {
      stream.read = true;
      return new Uint8Array(bytes);
    },
    destroy: () => {
      stream.destroyed = true;
    },
  };
  return stream;
}

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

describe('mapS3Error', () => {
  const NOT_FOUND = 'original image not found';
  const BUSY = 'storage is busy, retry shortly';
  it.each([
    [s3Error('NoSuchKey', 404), 404, 'Origin.NotFound', undefined, NOT_FOUND],
    [s3Error('AccessDenied', 403), 404, 'Origin.AccessDenied', undefined, NOT_FOUND],
    [s3Error('SlowDown', 503), 503, 'Origin.Unavailable', 2, BUSY],
    [s3Error('InternalError', 500), 503, 'Origin.Unavailable', 2, BUSY],
    [
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }),
      503,
      'Origin.Unavailable',
      2,
      BUSY,
    ],
    [s3Error('InvalidObjectState', 403), 404, 'Origin.AccessDenied', undefined, NOT_FOUND],
    [
      s3Error('PermanentRedirect', 301),
      502,
      'Origin.Error',
      undefined,
      'storage returned an unexpected error',
    ],
  ])('maps %s to %i %s', (error, status, code, retryAfter, message) => {
    expect(mapS3Error(error, 2)).toMatchObject({ status, code, retryAfter, message });
  });

  // S3 reports a missing bucket with 404 like a missing key ("NoSuchKey and NoSuchBucket … map to
  // the HTTP 404 Not Found status code", Amazon S3 User Guide, "Amazon S3 error best practices").
  it('answers 404 for any S3 404, not only NoSuchKey', () => {
    expect(mapS3Error(s3Error('NoSuchBucket', 404), 2)).toMatchObject({
      status: 404,
      code: 'Origin.NotFound',
    });
  });

  // The error name is what the SDK documents for telling failures apart; an error that lost its
  // HTTP metadata on the way (a wrapper, a test double) is still judged by it.
  it.each([
    ['NoSuchKey', 404, 'Origin.NotFound'],
    ['NotFound', 404, 'Origin.NotFound'],
    ['AccessDenied', 404, 'Origin.AccessDenied'],
  ])('judges %s by its name when the error carries no HTTP status', (name, status, code) => {
    expect(mapS3Error(Object.assign(new Error(name), { name }), 2)).toMatchObject({ status, code });
  });

  // Throttling and timeouts are not always 5xx: S3's RequestTimeout is a 400 (aws/aws-sdk-js#4573),
  // and the SDK retries these names whatever the status (@smithy/core retry
  // service-error-classification: THROTTLING_ERROR_CODES, TRANSIENT_ERROR_CODES).
  it.each(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'ServiceUnavailable'])(
    'answers 503 with Retry-After for %s, even with a 4xx status',
    (name) => {
      expect(mapS3Error(s3Error(name, 400), 7)).toMatchObject({
        status: 503,
        code: 'Origin.Unavailable',
        retryAfter: 7,
      });
    },
  );

  it('answers 503 for a failure that is not even an Error (nothing was answered)', () => {
    expect(mapS3Error(undefined, 2)).toMatchObject({ status: 503, code: 'Origin.Unavailable' });
    expect(mapS3Error('socket closed', 2)).toMatchObject({ status: 503, code: 'Origin.Unavailable' });
  });

  it.each([
    [s3Error('NoSuchKey', 404)],
    [s3Error('AccessDenied', 403)],
    [s3Error('SlowDown', 503)],
    [s3Error('PermanentRedirect', 301)],
  ])('keeps the S3 error as the cause of %s, for the logs', (error) => {
    expect(mapS3Error(error, 2).cause).toBe(error);
  });
});

describe('S3ImageStore', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());
  const store = new S3ImageStore(new S3Client({ region: 'us-east-1' }), { retryAfterSeconds: 2 });
  const location = { bucket: 'media', key: 'originals/a.jpg' };

  it('refuses an original over the byte limit before reading its body', async () => {
    const stream = body(Buffer.alloc(5000));
    s3.on(GetObjectCommand).resolves({ ContentLength: 5000, Body: stream as never });

    await expect(store.getOriginal(location, 1000)).rejects.toMatchObject({
      status: 413,
      code: 'Resize.TooLarge',
      message: 'the original is over 1000 bytes',
    });
    expect(stream).toMatchObject({ read: false, destroyed: true });
  });

  it('refuses an original over the byte limit even when its body cannot be destroyed', async () => {
    // A web ReadableStream (the SDK's Body outside Node) has no destroy().
    s3.on(GetObjectCommand).resolves({
      ContentLength: 5000,
      Body: { transformToByteArray: async () => new Uint8Array(5000) } as never,
    });

    await expect(store.getOriginal(location, 1000)).rejects.toMatchObject({
      status: 413,
      code: 'Resize.TooLarge',
    });
  });

  it('refuses an original over the byte limit when S3 declares the length but sends no body', async () => {
    s3.on(GetObjectCommand).resolves({ ContentLength: 5000 });

    await expect(store.getOriginal(location, 1000)).rejects.toMatchObject({
      status: 413,
      code: 'Resize.TooLarge',
    });
  });

  it('refuses an original over the byte limit once read when S3 gave no length', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(Buffer.alloc(1001)) as never });

    await expect(store.getOriginal(location, 1000)).rejects.toMatchObject({
      status: 413,
      code: 'Resize.TooLarge',
      message: 'the original is over 1000 bytes',
    });
  });

  it('accepts an original of exactly the byte limit', async () => {
    s3.on(GetObjectCommand).resolves({ ContentLength: 1000, Body: body(Buffer.alloc(1000)) as never });

    expect((await store.getOriginal(location, 1000)).byteLength).toBe(1000);
  });

  it('answers 502 when S3 answers without a body', async () => {
    s3.on(GetObjectCommand).resolves({ ContentLength: 0 });

    await expect(store.getOriginal(location, 1000)).rejects.toMatchObject({
      status: 502,
      code: 'Origin.Error',
      message: 'storage returned no body',
    });
  });

  it('maps a connection lost while reading the body to 503', async () => {
    const stream = {
      transformToByteArray: () => Promise.reject(Object.assign(new Error('aborted'), { name: 'ECONNRESET' })),
    };
    s3.on(GetObjectCommand).resolves({ ContentLength: 3, Body: stream as never });

    await expect(store.getOriginal(location, 1000)).rejects.toMatchObject({
      status: 503,
      code: 'Origin.Unavailable',
      retryAfter: 2,
    });
  });

  it('reads an original', async () => {
    s3.on(GetObjectCommand, { Bucket: 'media', Key: 'originals/a.jpg' }).resolves({
      ContentLength: 3,
      Body: body(Buffer.from('abc')) as never,
    });

    expect((await store.getOriginal(location, 1000)).toString()).toBe('abc');
  });

  it('maps a throttled read to 503', async () => {
    s3.on(GetObjectCommand).rejects(s3Error('SlowDown', 503));

    await expect(store.getOriginal(location, 1000)).rejects.toMatchObject({ status: 503, retryAfter: 2 });
  });

  it('writes derived images with their type and long cache lifetime', async () => {
    s3.on(PutObjectCommand).resolves({});

    await store.putDerived({ bucket: 'media', key: 'derived/x.webp' }, Buffer.from('x'), {
      contentType: 'image/webp',
      cacheControl: 'public, max-age=31536000, immutable',
    });

    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'media',
      Key: 'derived/x.webp',
      ContentType: 'image/webp',
      CacheControl: 'public, max-age=31536000, immutable',
    });
  });
});
