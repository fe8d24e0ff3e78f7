import { type EdgeConfig, parseEdgeConfig } from '../../src/config.ts';
import { shippedConfig } from '../../src/edge-config.ts';

/** The tests' signing secret (the real one exists only in a built bundle). */
export const TEST_SIGNING_SECRET = 'a-test-signing-secret-of-32-characters-or-more';

/** The shipped config with the test secret, parsed, with optional overrides for one test. */
export function testConfig(overrides: Partial<EdgeConfig> = {}): EdgeConfig {
  const { signing, ...file } = structuredClone(shippedConfig);
  const base = signing ? { ...file, signing: { ...signing, secret: TEST_SIGNING_SECRET } } : file;
  return parseEdgeConfig({ ...base, ...overrides });
}
