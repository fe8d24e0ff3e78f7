// s3rver ships no types; only what the local CDN uses.
declare module 's3rver' {
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory: string;
    configureBuckets?: Array<{ name: string }>;
  }
  /** What the local CDN reads of s3rver's notification (lib/models/event.js); the key is not encoded. */
  export interface S3rverNotification {
    Records: Array<{ eventName: string; s3: { bucket: { name: string }; object: { key: string } } }>;
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    /** s3rver is a Koa app: it emits an S3-shaped notification per object written or deleted. */
    on(event: 'event', listener: (notification: S3rverNotification) => void): this;
  }
}
