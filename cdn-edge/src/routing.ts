import type { EdgeConfig } from './config.ts';
import { HttpError } from './errors.ts';

export interface ObjectLocation {
  readonly bucket: string;
  readonly key: string;
}

/**
 * Finds where the original of `path` lives: the rule with the longest matching `match` prefix wins,
 * whatever the order in the config, so adding a specific rule never needs reordering.
 */
export function routeOriginal(path: string, routes: EdgeConfig['routes']): ObjectLocation {
  let best: EdgeConfig['routes'][number] | undefined;
  for (const route of routes) {
    if (path.startsWith(route.match) && (!best || route.match.length > best.match.length)) best = route;
  }
  if (!best) throw new HttpError(404, 'Route.NoMatch', 'no storage rule matches this path');
  const rest = path.slice(best.match.length);
  if (rest === '') throw new HttpError(404, 'Route.NoMatch', 'path names a folder, not an image');
  return { bucket: best.bucket, key: `${best.keyPrefix}${rest}` };
}
