import { type EdgeConfig, parseEdgeConfig } from '../src/config.ts';
import { shippedConfigWith } from '../src/edge-config.ts';

/**
 * The local CDN's signing secret: the shipped config requires signed URLs, and a deployment gets
 * its secret at build time only (config/esbuild.cjs), which refuses this one by its prefix.
 */
export const LOCAL_DEV_SIGNING_SECRET = 'local-dev-signing-secret-for-the-local-cdn-only';

/**
 * The shipped config with the dev secret: what the local CDN, the bench and the tests run. A module
 * of its own, light to import: the bench's memory child measures the resizer, not the local CDN.
 */
export function localConfig(): EdgeConfig & { signing: { required: boolean; secret: string } } {
  const config = parseEdgeConfig(shippedConfigWith(LOCAL_DEV_SIGNING_SECRET));
  if (!config.signing) throw new Error('the shipped config has no signing section');
  return { ...config, signing: config.signing };
}
