import { describe, expect, it } from 'vitest';
import type { EdgeConfig } from '../src/config.ts';
import { routeOriginal } from '../src/routing.ts';
import { errorOf } from './support/errors.ts';

const catalog = { match: 'products/', bucket: 'catalog-bucket', keyPrefix: 'originals/catalog/' };
const shoes = { match: 'products/shoes/', bucket: 'shoes-bucket', keyPrefix: 'shoes/' };
const fallback = { match: '', bucket: 'media-bucket', keyPrefix: 'originals/' };

describe('routeOriginal', () => {
  it('reads the original under the rule’s key prefix, in the rule’s bucket', () => {
    expect(routeOriginal('products/shoe.jpg', [catalog])).toEqual({
      bucket: 'catalog-bucket',
      key: 'originals/catalog/shoe.jpg',
    });
  });

  it.each<[string, EdgeConfig['routes']]>([
    ['specific rule first', [shoes, catalog, fallback]],
    ['specific rule last', [fallback, catalog, shoes]],
    ['specific rule in the middle', [catalog, shoes, fallback]],
  ])('lets the longest matching prefix win whatever the order (%s)', (_, routes) => {
    expect(routeOriginal('products/shoes/red.jpg', routes)).toEqual({
      bucket: 'shoes-bucket',
      key: 'shoes/red.jpg',
    });
    expect(routeOriginal('products/hat.jpg', routes)).toEqual({
      bucket: 'catalog-bucket',
      key: 'originals/catalog/hat.jpg',
    });
    expect(routeOriginal('blog/cover.jpg', routes)).toEqual({
      bucket: 'media-bucket',
      key: 'originals/blog/cover.jpg',
    });
  });

  it('ignores a longer rule that does not match the path', () => {
    expect(routeOriginal('products/hat.jpg', [catalog, shoes])).toEqual({
      bucket: 'catalog-bucket',
      key: 'originals/catalog/hat.jpg',
    });
  });

  it('answers 404 Route.NoMatch when no rule matches', () => {
    expect(errorOf(() => routeOriginal('blog/cover.jpg', [catalog, shoes]))).toMatchObject({
      status: 404,
      code: 'Route.NoMatch',
      message: 'no storage rule matches this path',
    });
  });

  it('answers 404 Route.NoMatch for a path that names a rule’s folder itself', () => {
    expect(errorOf(() => routeOriginal('products/', [catalog, fallback]))).toMatchObject({
      status: 404,
      code: 'Route.NoMatch',
      message: 'path names a folder, not an image',
    });
  });
});
