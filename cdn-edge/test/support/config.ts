import { type EdgeConfig, parseEdgeConfig } from '../../src/config.ts';
import { bakedConfig } from '../../src/edge-config.ts';

/** The shipped config, parsed, with optional overrides for one test. */
export function testConfig(overrides: Partial<EdgeConfig> = {}): EdgeConfig {
  return parseEdgeConfig({ ...structuredClone(bakedConfig), ...overrides });
}
