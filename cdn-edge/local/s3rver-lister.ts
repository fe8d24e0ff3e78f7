import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { VariantLister, VariantListing } from '../src/budget.ts';

/**
 * The resize budget's listing against s3rver. s3rver cannot truncate a listing on Node 22: its
 * continuation token is DES-encrypted (lib/controllers/bucket.js), a cipher OpenSSL 3 no longer
 * offers, so any listing longer than MaxKeys fails with InternalError. This lister asks for the
 * whole listing and keeps the first `maxKeys` items, which is what S3 returns for MaxKeys (objects
 * and common prefixes in key order, a common prefix counting as one item).
 */
export class S3rverVariantLister implements VariantLister {
  readonly #client: S3Client;

  constructor(client: S3Client) {
    this.#client = client;
  }

  async listVariants(bucket: string, prefix: string, maxKeys: number): Promise<VariantListing> {
    const output = await this.#client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/' }),
    );
    const items = [
      ...(output.Contents ?? []).map((o) => ({ key: o.Key ?? '', written: o.LastModified })),
      ...(output.CommonPrefixes ?? []).map((p) => ({ key: p.Prefix ?? '', written: undefined })),
    ]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, maxKeys);
    return { count: items.length, written: items.flatMap((i) => (i.written ? [i.written] : [])) };
  }
}
