import { describe, expect, it } from 'vitest';
import { EdgeConfigError, parseEdgeConfig, parseEdgeConfigFile } from '../src/config.ts';
import { shippedConfig, shippedConfigWith } from '../src/edge-config.ts';
import { TEST_SIGNING_SECRET } from './support/config.ts';
import { errorOf } from './support/errors.ts';

describe('edge config', () => {
  it('accepts the shipped config/edge.config.json', () => {
    expect(parseEdgeConfigFile(shippedConfig).derived.prefix).toBe('derived/');
  });

  it('ships with signatures required', () => {
    expect(shippedConfig.signing).toEqual({ required: true });
  });

  it('rejects unknown keys, naming them', () => {
    const raw = { ...structuredClone(shippedConfig), limits: { ...shippedConfig.limits, maxInputPixel: 1 } };

    expect(() => parseEdgeConfigFile(raw)).toThrow(EdgeConfigError);
    expect(() => parseEdgeConfigFile(raw)).toThrow(/limits: Unrecognized key: "maxInputPixel"/);
  });

  it('refuses a signing secret written into the committed file', () => {
    const raw = {
      ...structuredClone(shippedConfig),
      signing: { required: true, secret: TEST_SIGNING_SECRET },
    };

    expect(errorOf(() => parseEdgeConfigFile(raw))?.message).toBe(
      'Invalid edge config file: signing: Unrecognized key: "secret"',
    );
  });

  it('refuses a signing secret shorter than 32 characters', () => {
    const raw = {
      ...shippedConfigWith('short-secret-of-24-chars'),
      signing: { required: true, secret: 'x'.repeat(31) },
    };

    expect(errorOf(() => parseEdgeConfig(raw))?.message).toBe(
      'Invalid edge config: signing.secret: must be at least 32 characters',
    );
  });

  it('refuses to run a signed setup without a secret rather than run it unsigned', () => {
    expect(() => shippedConfigWith(undefined)).toThrow(
      'no signing secret is built into this code: deploy it from an `osls package` bundle',
    );
  });

  it('refuses two routes with the same match: the order would decide between them', () => {
    const raw = {
      ...structuredClone(shippedConfig),
      routes: [
        { match: 'products/', bucket: 'gantry-cdn-media-dev', keyPrefix: 'originals/catalog/' },
        { match: '', bucket: 'gantry-cdn-media-dev', keyPrefix: 'originals/' },
        { match: 'products/', bucket: 'gantry-cdn-media-dev', keyPrefix: 'originals/other/' },
      ],
    };

    expect(errorOf(() => parseEdgeConfigFile(raw))?.message).toBe(
      'Invalid edge config file: routes.2.match: another route has the same match',
    );
  });

  it('names every inconsistent field', () => {
    const raw = {
      ...structuredClone(shippedConfig),
      defaultQuality: 85,
      presets: { derived: { width: 333, height: 0, fit: 'inside' } },
      routes: [{ match: '', bucket: shippedConfig.derived.bucket, keyPrefix: 'derived/originals/' }],
    };

    const message = errorOf(() => parseEdgeConfigFile(raw))?.message;

    expect(message).toContain('defaultQuality: must be one of "qualities"');
    expect(message).toContain('presets.derived: clashes with the derived prefix');
    expect(message).toContain('presets.derived.width: must be one of "widths"');
    expect(message).toContain('routes.0.keyPrefix: originals must not live under the derived prefix');
  });
});
