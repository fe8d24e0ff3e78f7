import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateServiceInput } from '../../sandbox/emulator/index.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { stagedConfiguration } from '../../sandbox/scenarios.ts';
import { callsFor, executionsOf, onlyExecutionOf } from '../support/flows.ts';

/**
 * Blue/green, linear and canary deployments driven and gated by Gantry, on the sandbox's ECS
 * strategies model (a simulation built from AWS's documentation: sandbox/emulator/README.md).
 */
/** The decisions Gantry sent ContinueServiceDeployment for, in order. */
function answers(sandbox: Sandbox, app: string) {
  return callsFor(sandbox, 'ContinueServiceDeployment', `/${app}/`).map((call) => call.input.action);
}

describe('ECS staged deployments (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('rolls a canary back at its first gate when a gate alarm is in ALARM', async () => {
    // Prepare
    sandbox.seedApp({
      app: 'canary',
      env: 'prod',
      repository: 'canary',
      deploymentConfiguration: stagedConfiguration({
        strategy: 'CANARY',
        canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 5 },
        bakeTimeInMinutes: 10,
      }),
      config: { gates: { alarms: ['canary-5xx'] } },
    });
    sandbox.emulator.cloudwatch.setAlarm('canary-5xx', 'ALARM', 'Threshold Crossed: 5xx above 1%');

    // Act
    await sandbox.push({ repository: 'canary', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'canary');
    expect(execution.status).toBe('FAILED');
    expect(execution.states).toContain('DecideGate');
    expect(answers(sandbox, 'canary')).toEqual(['ROLLBACK']);
    expect(sandbox.release('canary', 'prod')).toMatchObject({ kind: 'rollback' });
    expect(JSON.stringify(sandbox.release('canary', 'prod'))).toContain('canary-5xx');
  });

  it('deploys a linear service in 10 steps, every gate passed', async () => {
    // Prepare
    sandbox.seedApp({
      app: 'linear',
      env: 'prod',
      repository: 'linear',
      deploymentConfiguration: stagedConfiguration({
        strategy: 'LINEAR',
        linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: 2 },
        bakeTimeInMinutes: 5,
      }),
      config: { gates: { alarms: ['linear-5xx'] } },
    });
    sandbox.emulator.cloudwatch.setAlarm('linear-5xx', 'OK');

    // Act
    await sandbox.push({ repository: 'linear', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'linear');
    expect(execution.status).toBe('SUCCEEDED');
    // One gate after test traffic, one before each of the 10 production steps, one after them.
    expect(answers(sandbox, 'linear')).toEqual(Array(12).fill('CONTINUE'));
    expect(sandbox.release('linear', 'prod')).toMatchObject({ kind: 'release' });
  });

  it('rolls a blue/green deployment back during bake when tasks of the new revision stop', async () => {
    // Prepare
    sandbox.seedApp({
      app: 'bluegreen',
      env: 'prod',
      repository: 'bluegreen',
      deploymentConfiguration: stagedConfiguration({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 30 }),
      config: { gates: { alarms: [] } },
    });

    // Act
    await sandbox.push({
      repository: 'bluegreen',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', crashFromStage: 'BAKE_TIME' },
    });
    await sandbox.idle();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'bluegreen');
    expect(execution.status).toBe('FAILED');
    expect(answers(sandbox, 'bluegreen')).toEqual(['CONTINUE', 'CONTINUE', 'CONTINUE']);
    expect(callsFor(sandbox, 'StopServiceDeployment', '/bluegreen/')).toHaveLength(1);
    expect(sandbox.release('bluegreen', 'prod')).toMatchObject({ kind: 'rollback' });
  });

  it('refuses gates at ResolveConfig when the service lacks the pause hooks, changing nothing', async () => {
    // Prepare: a canary service with no hooks at all.
    sandbox.seedApp({
      app: 'nohooks',
      env: 'prod',
      repository: 'nohooks',
      deploymentConfiguration: { strategy: 'CANARY' } as CreateServiceInput['deploymentConfiguration'],
      config: { gates: { alarms: [] } },
    });

    // Act
    await sandbox.push({ repository: 'nohooks', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'nohooks');
    expect(execution).toMatchObject({ status: 'FAILED', error: 'GateHooksMissing' });
    expect(execution.states).toEqual(['ResolveConfig', 'Rejected']);
    expect(callsFor(sandbox, 'UpdateService', 'nohooks')).toEqual([]);
  });

  describe('a rollback requested while a deploy of the same app/environment is in flight', () => {
    /** A "Rollback Requested" event on the Gantry bus, stamped with the simulated clock. */
    async function requestRollback(app: string, reason: string) {
      await sandbox.bus.publish(
        {
          version: '0',
          id: `5b1c2f4e-0000-4000-8000-${app.padEnd(12, '0').slice(0, 12)}`,
          'detail-type': 'Rollback Requested',
          source: 'gantry',
          account: '123456789012',
          time: new Date(sandbox.emulator.clock.now()).toISOString(),
          region: 'eu-west-1',
          resources: [],
          detail: { app, env: 'prod', reason },
        },
        sandbox.gantryBus,
      );
    }

    it('rolls a rolling deploy back at once instead of queueing behind it', async () => {
      // Prepare: v1 released, v2 rolling out slowly.
      sandbox.seedApp({ app: 'inflight', env: 'prod', repository: 'inflight' });
      const v1 = await sandbox.push({ repository: 'inflight', tag: 'v1.0.0', scenario: 'healthy' });
      await sandbox.idle();
      const v2 = await sandbox.push({
        repository: 'inflight',
        tag: 'v2.0.0',
        scenario: { kind: 'healthy', stableAfterSeconds: 3000 },
      });
      await sandbox.elapse(60);

      // Act
      await requestRollback('inflight', 'error rate up after v2');
      await sandbox.idle();

      // Assess: no second execution; the deploy itself rolled back, long before v2 would settle.
      const executions = executionsOf(sandbox, 'inflight');
      expect(executions).toHaveLength(2);
      const deploy = sandbox.executionFor(v2.digest);
      expect(deploy?.status).toBe('FAILED');
      expect(deploy?.states).toContain('Rollback');
      expect(sandbox.release('inflight', 'prod')).toMatchObject({
        kind: 'rollback',
        digest: v1.digest,
        cause: { error: 'RollbackRequested', message: 'error rate up after v2' },
      });
    });

    it('stops a linear deploy with ROLLBACK during its bake', async () => {
      // Prepare
      sandbox.seedApp({
        app: 'inbake',
        env: 'prod',
        repository: 'inbake',
        deploymentConfiguration: {
          strategy: 'LINEAR',
          linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 },
          bakeTimeInMinutes: 60,
        } as CreateServiceInput['deploymentConfiguration'],
      });
      const v1 = await sandbox.push({ repository: 'inbake', tag: 'v1.0.0', scenario: 'healthy' });
      await sandbox.idle();
      await sandbox.push({ repository: 'inbake', tag: 'v2.0.0', scenario: 'healthy' });
      // Well into the hour of bake: both steps (and their minute of bake) are behind.
      await sandbox.elapse(600);

      // Act
      await requestRollback('inbake', 'canary metrics regressed');
      await sandbox.idle();

      // Assess
      expect(callsFor(sandbox, 'StopServiceDeployment', '/inbake/')).toHaveLength(1);
      expect(executionsOf(sandbox, 'inbake')).toHaveLength(2);
      expect(sandbox.release('inbake', 'prod')).toMatchObject({
        kind: 'rollback',
        digest: v1.digest,
        cause: { error: 'RollbackRequested' },
      });
    });
  });
});
