import { HttpError } from '../../src/errors.ts';
import type { ObjectLocation } from '../../src/routing.ts';
import type { ImageStore } from '../../src/storage.ts';

/** An in-memory ImageStore: what the service needs from S3 and nothing more. */
export class MemoryStore implements ImageStore {
  readonly objects = new Map<
    string,
    { body: Buffer; contentType?: string; cacheControl?: string; metadata?: Record<string, string> }
  >();
  failPuts = false;

  static key(location: ObjectLocation): string {
    return `${location.bucket}/${location.key}`;
  }

  put(location: ObjectLocation, body: Buffer): void {
    this.objects.set(MemoryStore.key(location), { body });
  }

  async getOriginal(location: ObjectLocation, maxBytes: number): Promise<Buffer> {
    const object = this.objects.get(MemoryStore.key(location));
    if (!object) throw new HttpError(404, 'Origin.NotFound', 'original image not found');
    if (object.body.byteLength > maxBytes) throw new HttpError(413, 'Resize.TooLarge', 'too big');
    return object.body;
  }

  async putDerived(
    location: ObjectLocation,
    body: Buffer,
    meta: { contentType: string; cacheControl: string; metadata?: Record<string, string> },
  ): Promise<void> {
    if (this.failPuts) throw Object.assign(new Error('denied'), { name: 'AccessDenied' });
    this.objects.set(MemoryStore.key(location), { body, ...meta });
  }
}
