import type { EdgeConfig } from './config.ts';
import { routeOriginal } from './routing.ts';

/** An original that was written or removed, as an S3 event notification names it. */
export interface OriginalChange {
  readonly bucket: string;
  /** Decoded object key. */
  readonly key: string;
  readonly eventName: string;
}

/**
 * The records of an S3 event notification that change an object (`ObjectCreated:*` and
 * `ObjectRemoved:*`), keys decoded. Shape: "Event message structure" (Amazon S3 User Guide): each
 * record has `eventName` and `s3.bucket.name`, `s3.object.key`; "The object key name value is URL
 * encoded. For example, "red flower.jpg" becomes "red+flower.jpg"", so `+` is a space and
 * `%2B` a plus. The message S3 sends when a notification is configured is an `s3:TestEvent`
 * without `Records` (same page): it, and anything else that is not a change, gives no change.
 */
export function originalChanges(message: unknown): OriginalChange[] {
  const records = (message as { Records?: unknown } | null)?.Records;
  if (!Array.isArray(records)) return [];
  const changes: OriginalChange[] = [];
  for (const record of records as Array<Record<string, unknown>>) {
    const eventName = typeof record?.eventName === 'string' ? record.eventName : '';
    const s3 = record?.s3 as { bucket?: { name?: unknown }; object?: { key?: unknown } } | undefined;
    const bucket = s3?.bucket?.name;
    const key = s3?.object?.key;
    if (
      !/^Object(Created|Removed):/.test(eventName) ||
      typeof bucket !== 'string' ||
      typeof key !== 'string'
    ) {
      continue;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(key.replace(/\+/g, ' '));
    } catch {
      continue; // not something S3 sends; nothing to invalidate by it
    }
    changes.push({ bucket, key: decoded, eventName });
  }
  return changes;
}

/**
 * Every public path whose original is the object at `bucket`/`key`: the inverse of routeOriginal.
 * One object can be reached by several paths (with routes `products/` → `originals/catalog/` and
 * the catch-all `` → `originals/`, both `products/shoe.jpg` and `catalog/shoe.jpg` read
 * `originals/catalog/shoe.jpg`), and each has its own variants. A candidate path counts only if
 * routing really sends it to this object (the longest match wins, so a shorter route's candidate
 * may belong to a longer one).
 */
export function publicPathsOf(bucket: string, key: string, routes: EdgeConfig['routes']): string[] {
  const paths: string[] = [];
  for (const route of routes) {
    if (route.bucket !== bucket || !key.startsWith(route.keyPrefix)) continue;
    const rest = key.slice(route.keyPrefix.length);
    if (rest === '') continue;
    const path = `${route.match}${rest}`;
    const target = routeOriginal(path, routes);
    if (target.bucket === bucket && target.key === key) paths.push(path);
  }
  return paths;
}
