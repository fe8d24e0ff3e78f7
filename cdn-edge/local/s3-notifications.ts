/**
 * An object key as S3 writes it into an event notification: "The object key name value is URL
 * encoded. For example, "red flower.jpg" becomes "red+flower.jpg"" ("Event message structure",
 * Amazon S3 User Guide). s3rver puts the raw key into its events; the local CDN re-encodes it so
 * the function reads what S3 would send.
 */
export function notificationKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}
