import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { executionsOf } from '../support/flows.ts';

/**
 * ECS behaviours the happy path never meets: an API that lags behind its events. The real
 * deploy ASL and handlers against the sandbox's emulated AWS; each test seeds an app of its own.
 */
describe('ECS fidelity flows (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterEach(() => {
    sandbox.emulator.ecs.setListTasksLag(0);
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('rolls a crash loop back from its stop events when ListTasks lags behind them', async () => {
    // Prepare
    sandbox.seedApp({
      app: 'laggy',
      env: 'prod',
      repository: 'laggy',
      config: { health: { timeoutSeconds: 120, maxFailedTasks: 1 } },
    });
    await sandbox.push({ repository: 'laggy', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    sandbox.emulator.ecs.setListTasksLag(600);

    // Act
    await sandbox.push({ repository: 'laggy', tag: 'v2.0.0', scenario: 'crashLoop' });
    await sandbox.idle();

    // Assess: the stop event itself failed the rollout; nobody waited for the timeout.
    const failed = executionsOf(sandbox, 'laggy').find((execution) => execution.status === 'FAILED');
    expect(failed?.error).toBe('RolloutFailed');
    expect(failed?.states).not.toContain('CheckRollout');
    expect(failed?.states.at(-1)).toBe('RolledBack');
    expect(JSON.stringify(sandbox.release('laggy', 'prod')?.cause)).toContain('EssentialContainerExited');
  });
});
