import { describe, expect, it } from 'vitest';
import { EdgeConfigError, parseEdgeConfig } from '../src/config.ts';
import { bakedConfig } from '../src/edge-config.ts';

describe('edge config', () => {
  it('accepts the shipped config/edge.config.json', () => {
    expect(parseEdgeConfig(bakedConfig).derived.prefix).toBe('derived/');
  });

  it('rejects unknown keys, naming them', () => {
    const raw = { ...structuredClone(bakedConfig), limits: { ...bakedConfig.limits, maxInputPixel: 1 } };

    expect(() => parseEdgeConfig(raw)).toThrow(EdgeConfigError);
    expect(() => parseEdgeConfig(raw)).toThrow(/limits: Unrecognized key: "maxInputPixel"/);
  });

  it('names every inconsistent field', () => {
    const raw = {
      ...structuredClone(bakedConfig),
      defaultQuality: 85,
      presets: { derived: { width: 333, height: 0, fit: 'inside' } },
      routes: [{ match: '', bucket: bakedConfig.derived.bucket, keyPrefix: 'derived/originals/' }],
    };

    const error = (() => {
      try {
        parseEdgeConfig(raw);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();

    expect(error?.message).toContain('defaultQuality: must be one of "qualities"');
    expect(error?.message).toContain('presets.derived: clashes with the derived prefix');
    expect(error?.message).toContain('presets.derived.width: must be one of "widths"');
    expect(error?.message).toContain('routes.0.keyPrefix: originals must not live under the derived prefix');
  });
});
