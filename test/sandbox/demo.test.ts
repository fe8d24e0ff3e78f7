import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('deploys v1.0.0 to ECS and a swarm, rolls v1.1.0 back on ECS with its cause, says it is a simulation, and exits 0', async () => {
    // Act: the very command the README gives, minus npm's own output.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'sandbox/cli.ts', 'demo'], {
      env: { ...process.env, GANTRY_SANDBOX_SPEED: '200', CI: 'true' },
      timeout: 60_000,
    });

    // Assess
    expect(stdout).toContain('SIMULATION');
    expect(stdout).toMatch(/v1\.0\.0\s+web\/prod \(ecs\)\s+Deployed in 12 state transitions/);
    expect(stdout).toMatch(/v1\.0\.0\s+web\/edge \(swarm\)\s+Deployed in 12 state transitions/);
    expect(stdout).toMatch(
      /v1\.1\.0\s+web\/prod \(ecs\)\s+RolledBack in \d+ state transitions: RolloutFailed/,
    );
    expect(stdout).toMatch(/v1\.1\.0\s+web\/edge \(swarm\)\s+Deployed/);
    expect(stdout).toContain('live release of web/prod: v1.0.0 (rollback');
    expect(stdout).toContain('live release of web/edge: v1.1.0 (release');
  }, 90_000);

  it('refuses an unknown scenario with the list of known ones', async () => {
    const failure = await run(process.execPath, [
      '--import',
      'tsx',
      'sandbox/cli.ts',
      'no-such-scenario',
    ]).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('failing-rollout');
  }, 30_000);
});
