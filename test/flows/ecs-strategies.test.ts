import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateServiceInput } from '../../sandbox/emulator/index.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { callsFor, onlyExecutionOf } from '../support/flows.ts';

/**
 * Blue/green, linear and canary deployments driven and gated by Gantry, on the sandbox's ECS
 * strategies model (a simulation built from AWS's documentation: sandbox/emulator/README.md).
 */
const gatedHooks = [
  {
    targetType: 'PAUSE',
    lifecycleStages: [
      'POST_TEST_TRAFFIC_SHIFT',
      'PRE_PRODUCTION_TRAFFIC_SHIFT',
      'POST_PRODUCTION_TRAFFIC_SHIFT',
    ],
    timeoutConfiguration: { timeoutInMinutes: 60, action: 'ROLLBACK' },
  },
];

function strategy(configuration: Record<string, unknown>): CreateServiceInput['deploymentConfiguration'] {
  return { ...configuration, lifecycleHooks: gatedHooks } as CreateServiceInput['deploymentConfiguration'];
}

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
      deploymentConfiguration: strategy({
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
      deploymentConfiguration: strategy({
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
      deploymentConfiguration: strategy({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 30 }),
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
});
