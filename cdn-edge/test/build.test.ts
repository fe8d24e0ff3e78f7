import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_DEV_SIGNING_SECRET } from '../local/dev-config.ts';
import { errorOf } from './support/errors.ts';

// What serverless-esbuild calls while `osls package` runs (serverless.yml: custom.esbuild.config).
type Env = Record<string, string | undefined>;
const esbuildConfig = createRequire(import.meta.url)('../config/esbuild.cjs') as ((
  serverless: unknown,
  env: Env,
) => { define: Record<string, string> }) & { signingSecret: (env: Env) => string };
const { signingSecret } = esbuildConfig;

describe('the signing secret given to the build (config/esbuild.cjs)', () => {
  const secret = 'b'.repeat(48);
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads it from the file named by GANTRY_EDGE_SIGNING_SECRET_FILE, trailing newline dropped', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-edge-secret-'));
    const file = join(dir, 'secret');
    await writeFile(file, `${secret}\n`, { mode: 0o600 });

    expect(signingSecret({ GANTRY_EDGE_SIGNING_SECRET_FILE: file })).toBe(secret);
  });

  it('takes GANTRY_EDGE_SIGNING_SECRET when no file is named', () => {
    expect(signingSecret({ GANTRY_EDGE_SIGNING_SECRET: secret })).toBe(secret);
  });

  it('refuses to build without one, saying how to give it', () => {
    const error = errorOf(() => signingSecret({}));

    expect(error?.name).toBe('SigningSecretError');
    expect(error?.message).toBe(
      'no signing secret: the shipped config requires signed URLs and Lambda@Edge has no environment, so the secret is built into the bundle. Set GANTRY_EDGE_SIGNING_SECRET_FILE to a file holding it (or GANTRY_EDGE_SIGNING_SECRET to the secret) when running osls package/deploy.',
    );
  });

  it('stops packaging when none is given: the options osls asks for throw', () => {
    expect(errorOf(() => esbuildConfig(undefined, {}))?.name).toBe('SigningSecretError');
  });

  it('writes the secret into the bundles through esbuild define', () => {
    expect(esbuildConfig(undefined, { GANTRY_EDGE_SIGNING_SECRET: secret }).define).toEqual({
      GANTRY_EDGE_SIGNING_SECRET: JSON.stringify(secret),
    });
  });

  it('refuses a short secret without printing it', () => {
    const error = errorOf(() => signingSecret({ GANTRY_EDGE_SIGNING_SECRET: 'too-short-to-sign-with' }));

    expect(error?.message).toBe('the signing secret is 22 characters; it must have at least 32');
  });

  it("refuses the local CDN's dev secret", () => {
    const error = errorOf(() => signingSecret({ GANTRY_EDGE_SIGNING_SECRET: LOCAL_DEV_SIGNING_SECRET }));

    expect(error?.message).toBe('the signing secret is the local CDN dev secret; deployments need their own');
  });

  it('names the variable when the file cannot be read', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-edge-secret-'));
    const missing = join(dir, 'missing');

    const error = errorOf(() => signingSecret({ GANTRY_EDGE_SIGNING_SECRET_FILE: missing }));

    expect(error?.message).toBe(
      'cannot read the signing secret file named by GANTRY_EDGE_SIGNING_SECRET_FILE (ENOENT)',
    );
  });
});
