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
