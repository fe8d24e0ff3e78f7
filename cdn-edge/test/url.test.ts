import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../src/errors.ts';
import { sign, signUrl } from '../src/signature.ts';
import {
  derivedKey,
  derivedUri,
  negotiateFormat,
  parseDerivedUri,
  parsePublicUri,
  type ResizeSpec,
  variantsPrefix,
} from '../src/url.ts';
import { rewriteViewerRequest } from '../src/viewer.ts';
import { TEST_SIGNING_SECRET, testConfig } from './support/config.ts';
import { errorOf } from './support/errors.ts';

const config = testConfig();
const unsigned = testConfig({ signing: undefined });

// ---- arbitraries -------------------------------------------------------------------------------
const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~';
const segmentChar = fc.constantFrom(...`${SAFE} ()+,;=@!é€ü中`);
const segment = fc
  .array(segmentChar, { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join(''))
  .filter((s) => s !== '.' && s !== '..');
const imagePath = fc
  .tuple(fc.array(segment, { maxLength: 3 }), segment, fc.constantFrom('jpg', 'JPG', 'png', 'webp', 'gif'))
  .map(([dirs, name, ext]) => [...dirs, `${name}.${ext}`].join('/'));

const spec = fc
  .record({
    width: fc.constantFrom(0, ...config.widths),
    height: fc.constantFrom(0, ...config.heights),
    fit: fc.constantFrom('cover', 'contain', 'fill', 'inside', 'outside' as const),
    quality: fc.constantFrom(...config.qualities),
    path: imagePath,
  })
  .filter((s) => s.width !== 0 || s.height !== 0)
  .map((s): ResizeSpec => (s.width === 0 || s.height === 0 ? { ...s, fit: 'inside' } : s));

/** Percent-encodes a decoded path the many ways a client may: optional for safe chars, either hex case. */
function encodingOf(path: string): fc.Arbitrary<string> {
  return fc
    .tuple(...[...path].map((c) => fc.tuple(fc.constant(c), fc.boolean(), fc.boolean())))
    .map((parts) =>
      parts
        .map(([c, encodeSafe, lower]) => {
          if (c === '/') return c;
          const mustEncode = !SAFE.includes(c);
          if (!mustEncode && !encodeSafe) return c;
          const encoded =
            mustEncode && encodeURIComponent(c) !== c
              ? encodeURIComponent(c)
              : `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
          return lower ? encoded.toLowerCase() : encoded;
        })
        .join(''),
    );
}

/** All the public spellings of one spec. */
function publicUrlOf(s: ResizeSpec): fc.Arbitrary<{ uri: string; querystring: string }> {
  const sizes: string[] = [];
  if (s.height === 0) sizes.push(`${s.width}x`, `${s.width}X`, `${s.width}`);
  else if (s.width === 0) sizes.push(`x${s.height}`, `X${s.height}`);
  else sizes.push(`${s.width}x${s.height}`, `${s.width}X${s.height}`);
  const fitIsFree = s.width === 0 || s.height === 0;
  return fc
    .record({
      size: fc.constantFrom(...sizes),
      path: encodingOf(s.path),
      fit: fitIsFree
        ? fc.constantFrom(undefined, 'cover', 'contain', 'inside')
        : s.fit === config.defaultFit
          ? fc.constantFrom(undefined, s.fit)
          : fc.constant(s.fit),
      q:
        s.quality === config.defaultQuality
          ? fc.constantFrom(undefined, String(s.quality))
          : fc.constant(String(s.quality)),
      junk: fc.array(fc.constantFrom('utm_source=x', 'v=2', 'cb=123', 'w=9999'), { maxLength: 2 }),
      order: fc.boolean(),
    })
    .map(({ size, path, fit, q, junk, order }) => {
      const params: string[] = [...junk];
      if (fit !== undefined) params.push(`fit=${fit}`);
      if (q !== undefined) params.push(`q=${q}`);
      if (order) params.reverse();
      return { uri: `/${size}/${path}`, querystring: params.join('&') };
    });
}

// ---- properties --------------------------------------------------------------------------------
describe('URL contract', () => {
  describe('normalisation', () => {
    it('maps every spelling of one request to the same derived URI (one cache entry)', () => {
      fc.assert(
        fc.property(
          spec.chain((s) =>
            fc.tuple(
              fc.constant(s),
              publicUrlOf(s),
              fc.constantFrom('image/avif,image/webp,*/*', 'image/webp,*/*', '*/*'),
            ),
          ),
          ([s, url, accept]) => {
            const format = negotiateFormat(accept, unsigned);
            const rewritten = rewriteViewerRequest({ ...url, accept }, unsigned);
            expect(rewritten).toBe(derivedUri({ ...s, format }, unsigned));
          },
        ),
      );
    });

    it('parses a derived URI back to the request that made it', () => {
      fc.assert(
        fc.property(spec, fc.constantFrom('avif', 'webp', 'jpeg', 'png', 'auto' as const), (s, format) => {
          const request = { ...s, format };
          expect(parseDerivedUri(derivedUri(request, config), config)).toEqual(request);
        }),
      );
    });

    it('resolves a preset to the same entry as its explicit size', () => {
      const viaPreset = rewriteViewerRequest(
        { uri: '/thumb/a/b.jpg', querystring: '', accept: undefined },
        unsigned,
      );
      const explicit = rewriteViewerRequest(
        { uri: '/160x160/a/b.jpg', querystring: 'fit=cover', accept: undefined },
        unsigned,
      );
      expect(viaPreset).toBe('/derived/a/b.jpg/160x160-cover-q80-auto');
      expect(explicit).toBe(viaPreset);
    });
  });

  describe('rejection', () => {
    it('answers any input with a derived URI or a 4xx HttpError, never anything else', () => {
      // 'binary' yields whole code points only; lone surrogates are added by hand.
      const unit = fc.oneof(
        { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 9 },
        { arbitrary: fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF'), weight: 1 },
      );
      const anyUri = fc.oneof(
        fc.string({ unit, maxLength: 60 }).map((s) => `/${s}`),
        fc
          .tuple(
            fc.constantFrom('/800x/', '/thumb/', '/derived/'),
            fc.string({ unit, maxLength: 40 }),
            // Most random paths fail on the extension; these reach the checks after it.
            fc.constantFrom('', '.jpg', '.PNG'),
          )
          // A derived URI names its variant after the original's path.
          .map(([a, b, c]) => (a === '/derived/' ? `${a}${b}${c}/800x0-inside-q80-webp` : a + b + c)),
      );
      fc.assert(
        fc.property(anyUri, fc.string({ maxLength: 30 }), (uri, querystring) => {
          let out: string | undefined;
          const error = errorOf(() => {
            out = rewriteViewerRequest({ uri, querystring, accept: 'image/webp' }, unsigned);
          });
          if (error === undefined) {
            const parsed = parseDerivedUri(out ?? '', unsigned);
            expect(parsed.path.split('/')).not.toContain('..');
            expect(out?.startsWith('/derived/')).toBe(true);
          } else {
            expect(error).toBeInstanceOf(HttpError);
            expect((error as HttpError).status).toBeGreaterThanOrEqual(400);
            expect((error as HttpError).status).toBeLessThan(500);
          }
        }),
        { numRuns: 500 },
      );
    });

    // What the viewer reads in the 400's body, not only the code.
    const DOTS = 'dot segments are not allowed';
    const TWICE = 'percent-encoding must be applied once';
    const SLASH = 'encoded slashes are not allowed';
    const MALFORMED = 'malformed percent-encoding';
    const SURROGATE = 'the path is not valid UTF-8 (lone surrogate)';
    it.each([
      ['/800x/../secret.jpg', 'Url.Traversal', DOTS],
      ['/800x/a/./b.jpg', 'Url.Traversal', DOTS],
      ['/800x/%2e%2e/secret.jpg', 'Url.Traversal', DOTS],
      ['/800x/a/%2E%2E/%2E%2E/secret.jpg', 'Url.Traversal', DOTS],
      ['/800x/%252e%252e/secret.jpg', 'Url.DoubleEncoded', TWICE],
      ['/800x/a%252Fb.jpg', 'Url.DoubleEncoded', TWICE],
      ['/800x/a%2Fb.jpg', 'Url.BadPath', SLASH],
      ['/800x/..%2Fsecret.jpg', 'Url.BadPath', SLASH],
      ['/800x/a%5C..%5Cb.jpg', 'Url.BadPath', SLASH],
      ['/800x/a%00.jpg', 'Url.BadPath', 'control characters are not allowed'],
      ['/800x/a//b.jpg', 'Url.BadPath', 'empty path segment'],
      ['/800x/%E0%A4%A.jpg', 'Url.BadEncoding', MALFORMED],
      // A lone surrogate cannot be encoded back (encodeURIComponent throws URIError), nor is it UTF-8.
      ['/800x/a\uD800.jpg', 'Url.BadEncoding', SURROGATE],
      ['/800x/\uDFFFb.jpg', 'Url.BadEncoding', SURROGATE],
      ['/800x/%ED%A0%80.jpg', 'Url.BadEncoding', MALFORMED],
      ['/derived/a\uD800.jpg/800x0-inside-q80-webp', 'Url.BadEncoding', SURROGATE],
      [
        '/800x/readme.txt',
        'Url.NotAnImagePath',
        'extension must be one of jpg, jpeg, png, webp, gif, avif, tif, tiff',
      ],
      [
        '/800x/photo.bmp',
        'Url.NotAnImagePath',
        'extension must be one of jpg, jpeg, png, webp, gif, avif, tif, tiff',
      ],
      [
        '/800x/.jpg',
        'Url.NotAnImagePath',
        'extension must be one of jpg, jpeg, png, webp, gif, avif, tif, tiff',
      ],
      ['/800x/', 'Url.BadPath', 'empty path segment'],
      ['/800x', 'Url.BadPath', 'no image path after the size'],
      ['/derived/../../originals/x.jpg/800x0-inside-q80-webp', 'Url.Traversal', DOTS],
      ['/derived/a.jpg/800x0-cover-q80-webp', 'Url.BadFit', 'fit is not canonical'],
      ['/derived/a.jpg/800x600-stretch-q80-webp', 'Url.BadFit', 'fit is not canonical'],
      ['/derived/a.jpg/0800x0-inside-q80-webp', 'Url.BadSize', 'derived size must be <W>x<H>'],
      ['/derived/a.jpg/800x-inside-q80-webp', 'Url.BadSize', 'derived size must be <W>x<H>'],
      ['/derived/a.jpg/0x0-inside-q80-webp', 'Url.BadSize', 'a width or a height is needed'],
      ['/derived/a.jpg/800x0-inside-q80-gif', 'Url.BadFormat', 'unknown format'],
    ])('rejects %s with 400 %s', (uri, code, message) => {
      const error = errorOf(() =>
        rewriteViewerRequest({ uri, querystring: '', accept: undefined }, unsigned),
      );

      expect(error).toMatchObject({ status: 400, code, message });
    });

    // Each derived pattern is anchored at both ends: anything around a canonical token is refused,
    // so no two derived URIs name the same image.
    it.each([
      // The previous key layout, a variant without a path, a variant with more or fewer parts.
      [
        '/derived/800x0/inside/q80/webp/a.jpg',
        'Url.BadVariant',
        'derived variant must be <W>x<H>-<fit>-q<Q>-<format>',
      ],
      ['/derived/800x0-inside-q80-webp', 'Url.BadPath', 'no image path before the variant'],
      [
        '/derived/a.jpg/800x0-inside-q80-webp-x',
        'Url.BadVariant',
        'derived variant must be <W>x<H>-<fit>-q<Q>-<format>',
      ],
      [
        '/derived/a.jpg/800x0-inside-q80',
        'Url.BadVariant',
        'derived variant must be <W>x<H>-<fit>-q<Q>-<format>',
      ],
      ['/derived/a.jpg/800x0junk-inside-q80-webp', 'Url.BadSize', 'derived size must be <W>x<H>'],
      ['/derived/a.jpg/junk800x0-inside-q80-webp', 'Url.BadSize', 'derived size must be <W>x<H>'],
      ['/derived/a.jpg/800x0-inside-q80x-webp', 'Url.BadQuality', 'derived quality must be q<N>'],
      ['/derived/a.jpg/800x0-inside-xq80-webp', 'Url.BadQuality', 'derived quality must be q<N>'],
      ['/derived/a.jpg/800x0-inside-80-webp', 'Url.BadQuality', 'derived quality must be q<N>'],
      ['/derived/a.jpg/800x0-inside-q080-webp', 'Url.BadQuality', 'derived quality must be q<N>'],
      [
        '/derived/a.jpg/800x0-inside-q81-webp',
        'Url.BadQuality',
        'quality 81 is not allowed; allowed: 50, 60, 70, 80, 90',
      ],
      [
        '/derived/a.jpg/801x0-inside-q80-webp',
        'Url.BadSize',
        'width 801 is not allowed; allowed widths: 80, 160, 320, 400, 640, 800, 1024, 1280, 1600, 1920',
      ],
      [
        '/derived/a.jpg/0x301-inside-q80-webp',
        'Url.BadSize',
        'height 301 is not allowed; allowed heights: 80, 160, 300, 320, 480, 600, 720, 1080',
      ],
      [
        '/derived/a.jpg/800x301-cover-q80-webp',
        'Url.BadSize',
        'height 301 is not allowed; allowed heights: 80, 160, 300, 320, 480, 600, 720, 1080',
      ],
    ])('refuses the non-canonical derived URI %s (%s)', (uri, code, message) => {
      expect(errorOf(() => parseDerivedUri(uri, config))).toMatchObject({ status: 400, code, message });
    });

    it.each([
      ['avif', { avif: false, webp: true }],
      ['webp', { avif: true, webp: false }],
    ])('refuses a derived URI asking for %s when the config disables it', (format, formats) => {
      const error = errorOf(() =>
        parseDerivedUri(`/derived/a.jpg/800x0-inside-q80-${format}`, testConfig({ formats })),
      );

      expect(error).toMatchObject({
        status: 400,
        code: 'Url.BadFormat',
        message: `${format} output is disabled`,
      });
    });

    it.each([
      ['avif', { avif: false, webp: true }, 'webp'],
      ['webp', { avif: true, webp: false }, 'avif'],
    ])('still serves the other formats when %s is disabled', (_, formats, other) => {
      const uri = `/derived/a.jpg/800x0-inside-q80-${other}`;

      expect(parseDerivedUri(uri, testConfig({ formats })).format).toBe(other);
    });

    it('accepts a derived quality of one or three digits when the config allows it', () => {
      const wide = testConfig({ qualities: [5, 80, 100] });

      expect(parseDerivedUri('/derived/a.jpg/800x0-inside-q5-webp', wide).quality).toBe(5);
      expect(parseDerivedUri('/derived/a.jpg/800x0-inside-q100-webp', wide).quality).toBe(100);
    });

    it('lists the allowed sizes in order whatever the order of the config', () => {
      const unordered = testConfig({ widths: [1600, 800, 160, 1920, 400] });

      expect(errorOf(() => parsePublicUri('/799x/a.jpg', '', unordered))?.message).toBe(
        'width 799 is not allowed; allowed widths: 160, 400, 800, 1600, 1920',
      );
    });

    it('takes a percent sign followed by one hex digit as a plain character once decoded', () => {
      expect(parsePublicUri('/800x/50%25a.jpg', '', config).spec.path).toBe('50%a.jpg');
    });

    it.each(['jpg', 'jpeg', 'JPEG', 'png', 'webp', 'gif', 'avif', 'tif', 'tiff', 'TIFF'])(
      'accepts the .%s extension',
      (extension) => {
        expect(parsePublicUri(`/800x/a/photo.${extension}`, '', config).spec.path).toBe(
          `a/photo.${extension}`,
        );
      },
    );

    it('accepts a path of 1,024 characters and refuses one longer', () => {
      const longest = `${'a/'.repeat(508)}abcd.jpg`; // 1,016 + 8 = 1,024 characters

      expect(longest).toHaveLength(1024);
      expect(parsePublicUri(`/800x/${longest}`, '', config).spec.path).toBe(longest);
      expect(errorOf(() => parsePublicUri(`/800x/a${longest}`, '', config))).toMatchObject({
        status: 400,
        code: 'Url.BadPath',
        message: 'path too long',
      });
    });

    it('answers a size outside the list with 400 and the allowed list', () => {
      const error = errorOf(() => parsePublicUri('/799x/a.jpg', '', config));

      expect(error).toMatchObject({
        status: 400,
        code: 'Url.BadSize',
        message:
          'width 799 is not allowed; allowed widths: 80, 160, 320, 400, 640, 800, 1024, 1280, 1600, 1920',
      });
    });

    const HEIGHTS = 'allowed heights: 80, 160, 300, 320, 480, 600, 720, 1080';
    const WIDTHS = 'allowed widths: 80, 160, 320, 400, 640, 800, 1024, 1280, 1600, 1920';
    const unknownSize = (token: string) => `unknown size "${token}"; use a preset (thumb, card, hero) or WxH`;
    it.each([
      ['/800x/a.jpg', 'q=81', 'Url.BadQuality', 'quality 81 is not allowed; allowed: 50, 60, 70, 80, 90'],
      ['/800x/a.jpg', 'q=abc', 'Url.BadQuality', 'q must be an integer'],
      ['/800x/a.jpg', 'q=080', 'Url.BadQuality', 'q must be an integer'],
      [
        '/800x/a.jpg',
        'fit=stretch',
        'Url.BadFit',
        'fit must be one of cover, contain, fill, inside, outside',
      ],
      ['/800x/a.jpg', 'q=80&q=90', 'Url.DuplicateParameter', '"q" given more than once'],
      ['/800x/a.jpg', 'fit=cover&fit=inside', 'Url.DuplicateParameter', '"fit" given more than once'],
      ['/800x/a.jpg', 'q=100', 'Url.BadQuality', 'quality 100 is not allowed; allowed: 50, 60, 70, 80, 90'],
      ['/800x/a.jpg', 'q=1000', 'Url.BadQuality', 'q must be an integer'],
      ['800x/a.jpg', '', 'Url.BadPath', 'path must start with "/"'],
      // Presets are the config's own keys: names every object inherits are not presets.
      ['/constructor/a.jpg', '', 'Url.BadSize', unknownSize('constructor')],
      ['/__proto__/a.jpg', '', 'Url.BadSize', unknownSize('__proto__')],
      ['/0x300/a.jpg', '', 'Url.BadSize', unknownSize('0x300')],
      [`/${'z'.repeat(40)}/a.jpg`, '', 'Url.BadSize', unknownSize('z'.repeat(32))],
      ['/12345x/a.jpg', '', 'Url.BadSize', `width 12345 is not allowed; ${WIDTHS}`],
      ['/800x/a%7F.jpg', '', 'Url.BadPath', 'control characters are not allowed'],
      ['/800x/a%1F.jpg', '', 'Url.BadPath', 'control characters are not allowed'],
      ['/800x/a.jpg', 'sig=a&sig=b', 'Url.DuplicateParameter', '"sig" given more than once'],
      ['/huge/a.jpg', '', 'Url.BadSize', unknownSize('huge')],
      ['/100000x/a.jpg', '', 'Url.BadSize', unknownSize('100000x')],
      ['/x301/a.jpg', '', 'Url.BadSize', `height 301 is not allowed; ${HEIGHTS}`],
      ['/800x301/a.jpg', '', 'Url.BadSize', `height 301 is not allowed; ${HEIGHTS}`],
      ['/801x300/a.jpg', '', 'Url.BadSize', `width 801 is not allowed; ${WIDTHS}`],
    ])('rejects %s?%s with %s', (uri, querystring, code, message) => {
      expect(errorOf(() => parsePublicUri(uri, querystring, config))).toMatchObject({
        status: 400,
        code,
        message,
      });
    });

    it('keys every variant of an original directly under one prefix, one segment each', () => {
      fc.assert(
        fc.property(spec, fc.constantFrom('avif', 'webp', 'jpeg', 'png', 'auto' as const), (s, format) => {
          const key = derivedKey({ ...s, format }, config);
          const prefix = variantsPrefix(s.path, config);

          expect(key.startsWith(prefix)).toBe(true);
          expect(key.slice(prefix.length)).not.toContain('/');
        }),
      );
    });

    it('keeps the variants of an original nested under another original out of its direct variants', () => {
      const nested = derivedKey(
        { width: 800, height: 0, fit: 'inside', quality: 80, format: 'webp', path: 'a.jpg/b.jpg' },
        config,
      );
      const outer = variantsPrefix('a.jpg', config);

      expect(outer).toBe('derived/a.jpg/');
      // Under the outer prefix, but not directly: listing with the delimiter "/" folds it away.
      expect(nested).toBe('derived/a.jpg/b.jpg/800x0-inside-q80-webp');
      expect(nested.slice(outer.length)).toContain('/');
    });

    it('never ends a key with an image extension, so no key equals an original name or an old-layout key', () => {
      fc.assert(
        fc.property(spec, fc.constantFrom('avif', 'webp', 'jpeg', 'png', 'auto' as const), (s, format) => {
          const last =
            derivedKey({ ...s, format }, config)
              .split('/')
              .pop() ?? '';

          expect(last).not.toContain('.');
        }),
      );
    });

    it('refuses to parse a public URL as a derived one', () => {
      expect(errorOf(() => parseDerivedUri('/800x/a.jpg', config))).toMatchObject({
        status: 400,
        code: 'Url.NotDerived',
        message: 'not a derived image path',
      });
    });

    it('treats a path that only starts like the derived prefix as public', () => {
      expect(errorOf(() => parsePublicUri('/derivedx/a.jpg', '', config))).toMatchObject({
        code: 'Url.BadSize',
        message: 'unknown size "derivedx"; use a preset (thumb, card, hero) or WxH',
      });
    });

    it('accepts a height from the list, alone or with a width', () => {
      expect(parsePublicUri('/x300/a.jpg', '', config).spec).toMatchObject({ width: 0, height: 300 });
      expect(parsePublicUri('/400x300/a.jpg', '', config).spec).toMatchObject({ width: 400, height: 300 });
    });
  });

  describe('format negotiation', () => {
    it.each([
      ['image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif'],
      ['image/webp,*/*', 'webp'],
      ['image/avif;q=0,image/webp', 'webp'],
      ['image/avif;q=0', 'auto'],
      ['image/avif; q=0.0, image/webp;q=0.000', 'auto'],
      ['image/avif;q=0.001', 'avif'],
      ['image/avif;xq=0', 'avif'],
      ['image/avif;q=0.5,image/webp', 'avif'],
      ['IMAGE/WEBP', 'webp'],
      ['image/*,*/*;q=0.8', 'auto'],
      ['', 'auto'],
    ])('picks from Accept %j → %s', (accept, format) => {
      expect(negotiateFormat(accept, config)).toBe(format);
    });

    it('does not offer a format the config disables', () => {
      const noAvif = testConfig({ formats: { avif: false, webp: true } });
      const noWebp = testConfig({ formats: { avif: true, webp: false } });

      expect(negotiateFormat('image/avif,image/webp', noAvif)).toBe('webp');
      expect(negotiateFormat('image/webp', noWebp)).toBe('auto');
    });

    it('answers auto when the browser sends no Accept', () => {
      expect(negotiateFormat(undefined, config)).toBe('auto');
    });
  });

  describe('signature', () => {
    const signed = testConfig({ signing: { required: true, secret: TEST_SIGNING_SECRET } });
    const s: ResizeSpec = { width: 400, height: 0, fit: 'inside', quality: 80, path: 'a/b.jpg' };
    const sig = sign(s, TEST_SIGNING_SECRET);

    it('accepts a valid signature, the same for every spelling of the URL', () => {
      const a = rewriteViewerRequest(
        { uri: '/400x/a/b.jpg', querystring: `sig=${sig}`, accept: undefined },
        signed,
      );
      const b = rewriteViewerRequest(
        { uri: '/400/a/%62.jpg', querystring: `q=80&fit=cover&sig=${sig}`, accept: undefined },
        signed,
      );
      expect(a).toBe('/derived/a/b.jpg/400x0-inside-q80-auto');
      expect(b).toBe(a);
    });

    it.each([
      ['', 'Url.SignatureRequired', 'this URL must be signed (sig=…)'],
      [
        `sig=${sig.replace(/^./, (c) => (c === '0' ? '1' : '0'))}`,
        'Url.BadSignature',
        'signature does not match',
      ],
      ['sig=short', 'Url.BadSignature', 'signature does not match'],
    ])('answers 403 for %j', (querystring, code, message) => {
      const error = errorOf(() =>
        rewriteViewerRequest({ uri: '/400x/a/b.jpg', querystring, accept: undefined }, signed),
      );
      expect(error).toMatchObject({ status: 403, code, message });
    });

    it('checks a wrong signature even when signing is optional, and lets a missing one through', () => {
      const optional = testConfig({ signing: { required: false, secret: TEST_SIGNING_SECRET } });

      expect(
        rewriteViewerRequest({ uri: '/400x/a/b.jpg', querystring: '', accept: undefined }, optional),
      ).toBe('/derived/a/b.jpg/400x0-inside-q80-auto');
      expect(
        errorOf(() =>
          rewriteViewerRequest({ uri: '/400x/a/b.jpg', querystring: 'sig=00', accept: undefined }, optional),
        ),
      ).toMatchObject({ status: 403, code: 'Url.BadSignature' });
    });

    it('signUrl writes the signature the resizer checks, for public and derived URLs', () => {
      const publicUrl = signUrl('/400/a/%62.jpg?q=80&fit=cover', {
        ...signed,
        signing: { required: true, secret: TEST_SIGNING_SECRET },
      });
      const derivedUrl = signUrl('/derived/a/b.jpg/400x0-inside-q80-webp', {
        ...signed,
        signing: { required: true, secret: TEST_SIGNING_SECRET },
      });
      const [publicUri = '', publicQuery = ''] = publicUrl.split('?');
      const [derivedUri = '', derivedQuery = ''] = derivedUrl.split('?');

      expect(publicQuery).toBe(`q=80&fit=cover&sig=${sig}`);
      expect(
        rewriteViewerRequest({ uri: publicUri, querystring: publicQuery, accept: undefined }, signed),
      ).toBe('/derived/a/b.jpg/400x0-inside-q80-auto');
      expect(
        rewriteViewerRequest({ uri: derivedUri, querystring: derivedQuery, accept: undefined }, signed),
      ).toBe('/derived/a/b.jpg/400x0-inside-q80-webp');
    });

    it('binds the signature to the size', () => {
      const error = errorOf(() =>
        rewriteViewerRequest({ uri: '/800x/a/b.jpg', querystring: `sig=${sig}`, accept: undefined }, signed),
      );
      expect(error).toMatchObject({ status: 403, code: 'Url.BadSignature' });
    });
  });
});
