import { describe, expect, it } from 'vitest';
import { sign, signUrl } from '../src/signature.ts';
import { TEST_SIGNING_SECRET, testConfig } from './support/config.ts';
import { errorOf } from './support/errors.ts';

const config = { ...testConfig(), signing: { required: true, secret: TEST_SIGNING_SECRET } };

describe('sign', () => {
  // The contract an application in any language implements (README › Signature): the first 32 hex
  // digits of HMAC-SHA256(secret, "<W>x<H>/<fit>/q<Q>/<path>"). The full digest of this payload is
  // 1da9d7265e1682984ccd301bf4fd7aa8801ded576992283bab0a03cfdb07ad4e.
  it('is the first 32 hex digits of HMAC-SHA256 over the normalised request', () => {
    const spec = { width: 400, height: 0, fit: 'inside', quality: 80, path: 'a/b.jpg' } as const;

    expect(sign(spec, TEST_SIGNING_SECRET)).toBe('1da9d7265e1682984ccd301bf4fd7aa8');
  });
});

describe('signUrl', () => {
  it('appends the signature to the query string it was given', () => {
    expect(signUrl('/800x/a.jpg?q=60', config)).toBe('/800x/a.jpg?q=60&sig=bb1397fa7a423552c2a13b5ff668e41e');
  });

  it('adds a query string holding only the signature to a URL that had none', () => {
    expect(signUrl('/derived/a/b.jpg/400x0-inside-q80-auto', config)).toBe(
      '/derived/a/b.jpg/400x0-inside-q80-auto?sig=1da9d7265e1682984ccd301bf4fd7aa8',
    );
  });

  it('replaces a signature already in the URL rather than adding a second', () => {
    expect(signUrl('/800x/a.jpg?sig=stale&q=60', config)).toBe(
      '/800x/a.jpg?q=60&sig=bb1397fa7a423552c2a13b5ff668e41e',
    );
  });

  it('refuses to sign a URL the contract refuses anyway', () => {
    expect(errorOf(() => signUrl('/799x/a.jpg', config))).toMatchObject({ status: 400, code: 'Url.BadSize' });
  });
});
