import raw from '../config/edge.config.json' with { type: 'json' };
import type { EdgeConfig, EdgeConfigFile } from './config.ts';

/**
 * The committed config file, as bundled. It is not parsed here on purpose: zod would add ~90 KB to
 * the viewer-request bundle (limit 20 KB). It is validated instead when the stack is packaged
 * (`config/stack.cjs` and `config/esbuild.cjs`), by the origin-response handler on its first event,
 * and by the test suite.
 */
export const shippedConfig = raw as EdgeConfigFile;

// Lambda@Edge has no environment variables, so the HMAC secret is written into the bundle by the
// build (`define` in config/esbuild.cjs, from a file or variable given to `osls package`); it is in
// no committed file. Unbundled (tests, the local CDN) the name is undefined and `typeof` says so.
declare const GANTRY_EDGE_SIGNING_SECRET: string | undefined;

/** The signing secret built into this bundle, if any. */
export const builtSigningSecret: string | undefined =
  typeof GANTRY_EDGE_SIGNING_SECRET === 'string' ? GANTRY_EDGE_SIGNING_SECRET : undefined;

/**
 * The shipped file with `secret` as its signing secret, unparsed (see above). Throws when the file
 * asks for signatures and there is no secret: never run a signed setup unsigned.
 */
export function shippedConfigWith(secret: string | undefined): EdgeConfig {
  const { signing, ...rest } = shippedConfig;
  if (!signing) return rest;
  if (secret === undefined) {
    throw new Error('no signing secret is built into this code: deploy it from an `osls package` bundle');
  }
  return { ...rest, signing: { required: signing.required, secret } };
}

/** The config the deployed functions run with: the file and the secret built into the bundle. */
export const bakedConfig = (): EdgeConfig => shippedConfigWith(builtSigningSecret);
