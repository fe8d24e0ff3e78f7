// serverless-esbuild's options (serverless.yml: custom.esbuild.config). A file rather than YAML so
// that the signing secret goes straight from where it is kept into the bundles: it never passes
// through the resolved serverless config (which osls writes to .serverless/serverless-state.json),
// never sits in a committed file, and is never printed.
//
// Lambda@Edge functions have no environment variables ("Restrictions on Lambda@Edge" › Lambda
// features), so the HMAC secret the functions sign and verify with must be inside the bundle.
// esbuild's `define` writes it there in place of the GANTRY_EDGE_SIGNING_SECRET identifier read by
// src/edge-config.ts.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const SECRET_FILE_VARIABLE = 'GANTRY_EDGE_SIGNING_SECRET_FILE';
const SECRET_VARIABLE = 'GANTRY_EDGE_SIGNING_SECRET';
// The local CDN's dev secret starts so (local/dev-config.ts); a build refuses it.
const DEV_SECRET_PREFIX = 'local-dev-';
// As src/config.ts requires: an HMAC-SHA256 key of at least the hash's 32 bytes (RFC 2104 §3).
const MIN_SECRET_LENGTH = 32;

class SigningSecretError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SigningSecretError';
  }
}

/**
 * The signing secret given to the build: the contents of the file named by
 * GANTRY_EDGE_SIGNING_SECRET_FILE (preferred: nothing in the environment or shell history), else
 * GANTRY_EDGE_SIGNING_SECRET. Errors name the variables, never the value.
 */
function signingSecret(env = process.env) {
  const file = env[SECRET_FILE_VARIABLE];
  let secret;
  if (file) {
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new SigningSecretError(
        `cannot read the signing secret file named by ${SECRET_FILE_VARIABLE} (${error.code})`,
      );
    }
  } else {
    secret = env[SECRET_VARIABLE];
  }
  if (!secret) {
    throw new SigningSecretError(
      `no signing secret: the shipped config requires signed URLs and Lambda@Edge has no environment, so the secret is built into the bundle. Set ${SECRET_FILE_VARIABLE} to a file holding it (or ${SECRET_VARIABLE} to the secret) when running osls package/deploy.`,
    );
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new SigningSecretError(
      `the signing secret is ${secret.length} characters; it must have at least ${MIN_SECRET_LENGTH}`,
    );
  }
  if (secret.startsWith(DEV_SECRET_PREFIX)) {
    throw new SigningSecretError(
      'the signing secret is the local CDN dev secret; deployments need their own',
    );
  }
  return secret;
}

/** The esbuild options of both bundles; `secret` is written into them (undefined: none needed). */
function esbuildOptions(secret) {
  return {
    bundle: true,
    minify: true,
    sourcemap: false,
    target: 'node22',
    platform: 'node',
    format: 'cjs',
    // sharp is native: shipped as a package (linux-x64 build) next to the bundle, never bundled.
    external: ['sharp'],
    define: { GANTRY_EDGE_SIGNING_SECRET: secret === undefined ? 'undefined' : JSON.stringify(secret) },
  };
}

/**
 * Called by serverless-esbuild while packaging, as `config(serverless)`: refuses to build a signed
 * setup without a secret. `env` is for tests.
 */
function serverlessEsbuildConfig(_serverless, env = process.env) {
  const file = JSON.parse(readFileSync(join(__dirname, 'edge.config.json'), 'utf8'));
  return {
    ...esbuildOptions(file.signing ? signingSecret(env) : undefined),
    packager: 'npm',
    // deploy/package-lock.json pins the root lock's versions and integrities: `npm ci --offline`
    // then installs from the tarballs the root `npm ci` cached, with no registry metadata needed.
    packagePath: './deploy/package.json',
    // The prebuilt libvips for the Lambda platform, whatever machine packages.
    installExtraArgs: [
      '--offline',
      '--os=linux',
      '--cpu=x64',
      '--libc=glibc',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
    ],
  };
}

module.exports = serverlessEsbuildConfig;
module.exports.esbuildOptions = esbuildOptions;
module.exports.signingSecret = signingSecret;
module.exports.SigningSecretError = SigningSecretError;
