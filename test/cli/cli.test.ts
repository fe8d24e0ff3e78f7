import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gantry, type ServedSandbox, serveSandbox } from './support.ts';

/**
 * The CLI as a user runs it: the bin's launcher in a child process, against `sandbox serve` in
 * another. The fleet: web/prod on v1.1.0 (v1.2.0 healthy and v1.3.0 crash-looping not deployed),
 * web/staging on v1.0.0, api/prod on v2.0.0 (v2.1.0 crash-loops). Tests that change state use
 * their own app/env, so their order does not matter.
 */
/**
 * Hang guards, not speed goals: each test spawns the CLI a few times (each a Node process that
 * loads the SDK), and CI's two cores are shared.
 */
const spawnedTimeoutMs = 240_000;
let sandbox: ServedSandbox;
let files: string;
const cli = (...args: string[]) => gantry([...sandbox.flags, ...args]);

beforeAll(async () => {
  sandbox = await serveSandbox();
  files = await mkdtemp(join(tmpdir(), 'gantry-cli-'));
}, 300_000);

afterAll(async () => {
  await sandbox?.stop();
  if (files) await rm(files, { recursive: true, force: true });
});

describe('gantry status', { timeout: spawnedTimeoutMs }, () => {
  it('lists every app/env with its live release and a sentence per app/env', async () => {
    // Act
    const { code, stdout } = await cli('status');

    // Assess
    expect(code).toBe(0);
    expect(stdout).toMatch(/^APP\s+ENV\s+LIVE\s+DIGEST\s+SINCE/);
    expect(stdout).toMatch(/web\s+staging\s+v1\.0\.0\s+sha256:[0-9a-f]{12}\s/);
    expect(stdout).toContain('web/prod is on v1.1.0 since');
  });

  it('prints one app/env as JSON for scripts', async () => {
    const { code, stdout } = await cli('status', 'web', 'staging', '--json');

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      app: 'web',
      env: 'staging',
      live: { tag: 'v1.0.0', revision: expect.stringContaining(':task-definition/') },
      lastAttempt: { outcome: 'deployed' },
      lock: null,
      waiting: null,
    });
  });

  it('refuses a bad name with one line and exit code 2', async () => {
    const { code, stdout, stderr } = await cli('status', 'Web', 'prod');

    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining('app "Web" is not a valid name')]);
  });

  it('exits 4 with the reason when the endpoint does not answer', async () => {
    const { code, stderr } = await gantry([
      '--sandbox',
      '--endpoint',
      'http://127.0.0.1:9',
      'status',
      'web',
      'prod',
    ]);

    expect(code).toBe(4);
    expect(stderr).toMatch(/ECONNREFUSED/);
  });
});

describe('gantry history', { timeout: spawnedTimeoutMs }, () => {
  it('lists the releases newest first', async () => {
    const { code, stdout } = await cli('history', 'web', 'prod');

    expect(code).toBe(0);
    const rows = stdout.trim().split('\n').slice(1);
    expect(rows.map((row) => row.split(/\s{2,}/)[2])).toEqual(['v1.1.0', 'v1.0.0']);
  });

  it('refuses a limit that is not a number', async () => {
    const { code, stderr } = await cli('history', 'web', 'prod', '--limit', 'ten');

    expect(code).toBe(2);
    expect(stderr).toContain('--limit "ten"');
  });
});

describe('gantry deploy', { timeout: spawnedTimeoutMs }, () => {
  it('follows a healthy deploy state by state and exits 0 once Deployed', async () => {
    const { code, stdout, stderr } = await cli(
      'deploy',
      'web',
      'prod',
      'web:v1.2.0',
      '--wait',
      '--poll-seconds',
      '0.2',
    );

    expect(code).toBe(0);
    expect(stderr).toMatch(/ResolveConfig[\s\S]*Deploy[\s\S]*WaitForRollout[\s\S]*RecordRelease/);
    expect(stdout).toContain('Deployed');
    expect(stdout).toContain('web/prod is on v1.2.0 since');
  });

  it('exits 1 when the deploy is rolled back, and status says why', async () => {
    const deployed = await cli('deploy', 'api', 'prod', 'api:v2.1.0', '--wait', '--poll-seconds', '0.2');
    const status = await cli('status', 'api', 'prod');

    expect(deployed.code).toBe(1);
    expect(deployed.stdout).toContain('RolledBack (RolloutFailed');
    expect(status.stdout).toMatch(
      /api\/prod is on v2\.0\.0, rolled back from v2\.1\.0 because 2 tasks stopped/,
    );
  });

  it('refuses a malformed image before starting anything', async () => {
    const before = await cli('history', 'web', 'staging', '--json');

    const { code, stderr } = await cli('deploy', 'web', 'staging', 'web@sha256:abc', '--wait');

    expect(code).toBe(2);
    expect(stderr).toContain('the digest must be sha256:');
    expect((await cli('history', 'web', 'staging', '--json')).stdout).toBe(before.stdout);
    expect(JSON.parse((await cli('status', 'web', 'staging', '--json')).stdout)).toMatchObject({
      lock: null,
    });
  });
});

describe('gantry rollback', { timeout: spawnedTimeoutMs }, () => {
  it('goes back to the previous release and exits 0 once Deployed', async () => {
    const { code, stdout, stderr } = await cli(
      'rollback',
      'web',
      'prod',
      '--reason',
      'bad release',
      '--wait',
      '--poll-seconds',
      '0.2',
    );

    expect(code).toBe(0);
    expect(stderr).toMatch(/rolling web\/prod back from v1\.\d\.0 to v1\.\d\.0/);
    expect(stdout).toContain('Deployed');
    expect(stdout).toMatch(/web\/prod is on v1\.\d\.0, rolled back from v1\.\d\.0 on request: bad release/);
  });

  it('goes back to any release of the history with --to', async () => {
    const { code, stdout } = await cli(
      'rollback',
      'shop',
      'prod',
      '--to',
      'v3.1.0',
      '--reason',
      'v3.2.0 is slow',
      '--wait',
      '--poll-seconds',
      '0.2',
    );

    expect(code).toBe(0);
    expect(stdout).toContain('shop/prod is on v3.1.0, rolled back from v3.2.0 on request: v3.2.0 is slow');
  });

  it('refuses a release whose image was deleted from ECR, before starting anything', async () => {
    const before = await cli('history', 'shop', 'prod', '--json');

    const { code, stderr } = await cli('rollback', 'shop', 'prod', '--to', 'v3.0.0', '--reason', 'try');

    expect(code).toBe(3);
    expect(stderr).toMatch(/^gantry: ImageNotFound: shop@sha256:[0-9a-f]{64} is no longer in ECR/);
    expect((await cli('history', 'shop', 'prod', '--json')).stdout).toBe(before.stdout);
  });

  it('refuses a rollback when no release was recorded before the live one (exit 3)', async () => {
    const { code, stderr } = await cli('rollback', 'web', 'staging', '--reason', 'try');

    expect(code).toBe(3);
    expect(stderr).toContain('NoPreviousRelease: web/staging has no recorded previous release');
  });

  it('wants a reason (exit 2)', async () => {
    const { code, stderr } = await cli('rollback', 'web', 'prod');

    expect(code).toBe(2);
    expect(stderr).toContain("required option '--reason <text>' not specified");
  });
});

describe('gantry plan', { timeout: spawnedTimeoutMs }, () => {
  it('shows the task-definition diff and a verify list, writing nothing', async () => {
    const before = await cli('history', 'web', 'prod', '--json');

    const { code, stdout } = await cli('plan', 'web', 'prod', 'web:v1.3.0');

    expect(code).toBe(0);
    expect(stdout).toContain('(dry run: nothing written)');
    expect(stdout).toMatch(
      /would: RegisterTaskDefinition web-prod \(a new revision of arn:aws:ecs:[^)]+\), then UpdateService prod\/web/,
    );
    expect(stdout).toMatch(
      /^-\s+"image": "123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/web@sha256:[0-9a-f]{64}",$/m,
    );
    expect(stdout).toMatch(
      /^\+\s+"image": "123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/web@sha256:[0-9a-f]{64}",$/m,
    );
    for (const check of [
      'config',
      'target may be deployed',
      'image in ECR',
      'execution role may be passed',
      'secret exists',
      'lock',
    ]) {
      expect(stdout).toMatch(new RegExp(`^ok\\s+${check}\\s`, 'm'));
    }
    expect((await cli('history', 'web', 'prod', '--json')).stdout).toBe(before.stdout);
  });

  it('exits 1 and says which check failed', async () => {
    const { code, stdout } = await cli('plan', 'web', 'prod', 'web:v9.9.9');

    expect(code).toBe(1);
    expect(stdout).toMatch(/^FAIL\s+image in ECR\s+ImageNotFound: web:v9\.9\.9 is not in ECR/m);
  });
});

describe('gantry why', { timeout: spawnedTimeoutMs }, () => {
  it('shows the stopped tasks, stop codes and exit codes of the last rollback', async () => {
    await cli('deploy', 'api', 'prod', 'api:v2.1.0', '--wait', '--poll-seconds', '0.2');

    const { code, stdout } = await cli('why', 'api', 'prod');

    expect(code).toBe(0);
    expect(stdout).toMatch(/^api\/prod: execution cli-deploy-api-prod-\w+ FAILED at /);
    expect(stdout).toContain('v2.1.0 rolled back to v2.0.0');
    expect(stdout).toContain('RolloutFailed: 2 task(s) of the new deployment stopped (limit 2)');
    expect(stdout).toMatch(
      /^[0-9a-f]{32}\s+EssentialContainerExited\s+Essential container in task exited\s+app=1 /m,
    );
  });

  it('says so when nothing was rolled back', async () => {
    const { code, stdout } = await cli('why', 'web', 'staging');

    expect(code).toBe(0);
    expect(stdout).toContain('web/staging: no rollback in the last releases');
  });

  it("refuses another app/env's execution with exit code 2", async () => {
    const rolledBack = JSON.parse((await cli('history', 'api', 'prod', '--json')).stdout) as {
      executionArn: string;
    }[];

    const { code, stderr } = await cli('why', 'web', 'prod', rolledBack[0]?.executionArn ?? '');

    expect(code).toBe(2);
    expect(stderr).toMatch(/deployed api\/prod, not web\/prod/);
  });
});

describe('gantry config', { timeout: spawnedTimeoutMs }, () => {
  const config = {
    repository: 'web',
    tagPattern: '^v\\d+\\.\\d+\\.\\d+$',
    target: { type: 'ecs', cluster: 'staging', service: 'web', container: 'app' },
    health: { timeoutSeconds: 300, maxFailedTasks: 2 },
  };

  it('validates a file without calling AWS, naming each bad field', async () => {
    const bad = join(files, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...config, health: { timeoutSeconds: 5 }, colour: 'blue' }));

    const { code, stderr } = await gantry(['config', 'validate', 'web', 'staging', bad]);

    expect(code).toBe(2);
    expect(stderr).toContain('health.timeoutSeconds');
    expect(stderr).toContain('unknown key(s) colour');
  });

  it('shows the diff and writes nothing without --yes on a non-interactive input', async () => {
    const file = join(files, 'staging.json');
    await writeFile(file, JSON.stringify(config));
    const before = await cli('config', 'get', 'web', 'staging');

    const { code, stderr } = await cli('config', 'put', 'web', 'staging', file);

    expect(code).toBe(2);
    expect(stderr).toMatch(/^\+\s+"timeoutSeconds": 300,$/m);
    expect(stderr).toContain('give --yes');
    expect((await cli('config', 'get', 'web', 'staging')).stdout).toBe(before.stdout);
  });

  it('writes a valid file with --yes, and get then shows it', async () => {
    const file = join(files, 'staging-yes.json');
    await writeFile(file, JSON.stringify(config));

    const put = await cli('config', 'put', 'web', 'staging', file, '--yes');
    const got = await cli('config', 'get', 'web', 'staging');
    const again = await cli('config', 'put', 'web', 'staging', file, '--yes');

    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/written, version 2/);
    expect(JSON.parse(got.stdout)).toEqual(config);
    expect(again.stdout).toContain('no change');
  });
});
