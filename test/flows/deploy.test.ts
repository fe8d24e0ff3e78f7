import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecrPushEvent, type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { callsFor, executionsOf, liveTaskDefinition, onlyExecutionOf } from '../support/flows.ts';

/**
 * The real deploy ASL, the real handlers and the real SDK clients, against the sandbox's
 * emulated AWS. Each test seeds an app of its own, so they share one sandbox.
 */
describe('deploy flows (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('deploys a pushed image pinned by digest and records the release', async () => {
    // Prepare
    const { cluster, service } = sandbox.seedApp({ app: 'happy', env: 'prod', repository: 'happy' });

    // Act
    const { digest } = await sandbox.push({ repository: 'happy', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'happy');
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states).toEqual([
      'ResolveConfig',
      'AcquireLock',
      'LockAcquired?',
      'Deploy',
      'ServiceDeployment?',
      'WaitForRollout',
      // The Lightsail health gate's Choice: an ECS target has no load balancer gate.
      'HealthGate?',
      'RecordRelease',
      'ReleaseLock',
      'WakeWaiter',
      'HowDidItEnd?',
      'Deployed',
    ]);
    const release = sandbox.release('happy', 'prod');
    expect(release).toMatchObject({
      kind: 'release',
      digest,
      tag: 'v1.0.0',
      executionArn: execution.executionArn,
    });
    const taskDefinition = await liveTaskDefinition(sandbox, cluster, service);
    expect(release?.revision).toBe(taskDefinition?.taskDefinitionArn);
    const app = taskDefinition?.containerDefinitions?.find((container) => container.name === 'app');
    expect(app?.image).toBe(`123456789012.dkr.ecr.eu-west-1.amazonaws.com/happy@${digest}`);
    // Only the named container changed: secrets, the sidecar and the platform are preserved.
    expect(app?.secrets).toEqual([expect.objectContaining({ name: 'DATABASE_URL' })]);
    expect(taskDefinition?.containerDefinitions?.map((container) => container.name)).toEqual([
      'app',
      'log-router',
    ]);
    expect(taskDefinition?.runtimePlatform).toEqual({
      cpuArchitecture: 'ARM64',
      operatingSystemFamily: 'LINUX',
    });
    expect(sandbox.emulator.ssm.get('/gantry/happy/prod/lock')).toBeUndefined();
    expect(sandbox.emulator.ssm.names().filter((name) => name.startsWith('/gantry-rollouts/'))).toEqual([]);
    const announced = sandbox.emulator.events.history.filter((event) => event.source === 'gantry');
    expect(announced.map((event) => event['detail-type'])).toContain('Release Succeeded');
  });

  it('rolls back when tasks of the new deployment keep crashing', async () => {
    // Prepare
    sandbox.seedApp({ app: 'crashy', env: 'prod', repository: 'crashy' });
    const v1 = await sandbox.push({ repository: 'crashy', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Act
    const v2 = await sandbox.push({ repository: 'crashy', tag: 'v2.0.0', scenario: 'crashLoop' });
    await sandbox.idle();

    // Assess
    const failed = executionsOf(sandbox, 'crashy').find((execution) => execution.status === 'FAILED');
    expect(failed?.error).toBe('RolloutFailed');
    expect(failed?.states).toContain('Rollback');
    expect(failed?.states.at(-1)).toBe('RolledBack');
    const release = sandbox.release('crashy', 'prod');
    expect(release).toMatchObject({
      kind: 'rollback',
      digest: v1.digest,
      rolledBackFrom: { digest: v2.digest },
    });
    expect(release?.cause?.error).toBe('RolloutFailed');
    expect(JSON.stringify(release?.cause)).toContain('EssentialContainerExited');
    expect(sandbox.emulator.ssm.get('/gantry/crashy/prod/lock')).toBeUndefined();
  });

  it("follows ECS's own circuit-breaker rollback instead of rolling back twice", async () => {
    // Prepare: the breaker trips before Gantry's own task count does.
    sandbox.seedApp({
      app: 'breaker',
      env: 'prod',
      repository: 'breaker',
      circuitBreaker: { enable: true, rollback: true },
      config: { health: { timeoutSeconds: 900, maxFailedTasks: 50 } },
    });
    await sandbox.push({ repository: 'breaker', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    const updatesBefore = callsFor(sandbox, 'UpdateService', 'breaker').length;

    // Act
    await sandbox.push({ repository: 'breaker', tag: 'v2.0.0', scenario: 'crashLoop' });
    await sandbox.idle();

    // Assess
    const failed = executionsOf(sandbox, 'breaker').find((execution) => execution.status === 'FAILED');
    expect(failed?.error).toBe('RolloutFailed');
    expect(JSON.parse(failed?.cause ?? '{}')).toMatchObject({ ecsRolledBack: true });
    expect(callsFor(sandbox, 'UpdateService', 'breaker').length - updatesBefore).toBe(1);
    expect(sandbox.release('breaker', 'prod')?.kind).toBe('rollback');
  });

  it('falls back to reading the service when the completion event is lost', async () => {
    // Prepare
    sandbox.seedApp({
      app: 'lost',
      env: 'prod',
      repository: 'lost',
      config: { health: { timeoutSeconds: 120, maxFailedTasks: 2 } },
    });
    const restore = sandbox.emulator.ecs.dropEvents(
      (event) => (event.detail as { eventName?: string }).eventName === 'SERVICE_DEPLOYMENT_COMPLETED',
    );

    // Act
    const { digest } = await sandbox.push({ repository: 'lost', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    restore();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'lost');
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states).toContain('CheckRollout');
    expect(sandbox.release('lost', 'prod')?.digest).toBe(digest);
  });

  it('rolls back when the rollout never stabilises within the timeout', async () => {
    sandbox.seedApp({
      app: 'stuck',
      env: 'prod',
      repository: 'stuck',
      config: { health: { timeoutSeconds: 120, maxFailedTasks: 2 } },
    });
    await sandbox.push({ repository: 'stuck', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    await sandbox.push({ repository: 'stuck', tag: 'v2.0.0', scenario: 'neverStable' });
    await sandbox.idle();

    const failed = executionsOf(sandbox, 'stuck').find((execution) => execution.status === 'FAILED');
    expect(failed?.error).toBe('RolloutTimedOut');
    expect(sandbox.release('stuck', 'prod')?.kind).toBe('rollback');
  });

  it('starts one deploy for a repeated push and none for a digest already live', async () => {
    // Prepare
    sandbox.seedApp({ app: 'dupe', env: 'prod', repository: 'dupe' });

    // Act: EventBridge delivers at least once, and ECR sends one event per manifest.
    await Promise.all([
      sandbox.push({ repository: 'dupe', tag: 'v1.0.0' }),
      sandbox.push({ repository: 'dupe', tag: 'v1.0.0' }),
    ]);
    await sandbox.idle();
    const live = sandbox.release('dupe', 'prod');
    const again = await sandbox.bus.publish(
      ecrPushEvent({
        region: 'eu-west-1',
        accountId: '123456789012',
        repository: 'dupe',
        tag: 'v1.0.0',
        digest: live?.digest ?? '',
        time: sandbox.emulator.clock.now(),
      }),
    );

    // Assess
    expect(executionsOf(sandbox, 'dupe')).toHaveLength(1);
    expect(JSON.stringify(again[0]?.result)).toContain('is already live');
  });

  it('refuses an invalid config at the first step, naming each bad field, and changes nothing', async () => {
    // Prepare
    sandbox.seedApp({
      app: 'broken',
      env: 'prod',
      repository: 'broken',
      rawConfig: JSON.stringify({
        repository: 'broken',
        tagPatern: '^v',
        target: { type: 'ecs', cluster: '', service: 'broken', container: 'app' },
        health: { timeoutSeconds: 5 },
      }),
    });
    sandbox.emulator.ecr.putImage({ repository: 'broken', tag: 'v1.0.0' });

    // Act
    const arn = sandbox.startExecution({ app: 'broken', env: 'prod', image: 'broken:v1.0.0' });
    const execution = await sandbox.stepFunctions.waitForExecution(arn);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('ConfigInvalid');
    for (const field of ['tagPatern', 'target.cluster', 'health.timeoutSeconds']) {
      expect(execution.cause).toContain(field);
    }
    expect(execution.states).toEqual(['ResolveConfig', 'Rejected']);
    expect(callsFor(sandbox, 'RegisterTaskDefinition', 'broken')).toEqual([]);
    expect(callsFor(sandbox, 'PutParameter', 'broken')).toEqual([]);
  });

  it('deploys from a manual start with a tag, and rolls back on request', async () => {
    // Prepare
    sandbox.seedApp({ app: 'manual', env: 'prod', repository: 'manual' });
    const v1 = sandbox.emulator.ecr.putImage({ repository: 'manual', tag: 'v1.0.0' });
    const v2 = sandbox.emulator.ecr.putImage({ repository: 'manual', tag: 'v2.0.0' });
    await sandbox.stepFunctions.waitForExecution(
      sandbox.startExecution({ app: 'manual', env: 'prod', image: 'manual:v1.0.0' }),
    );
    await sandbox.stepFunctions.waitForExecution(
      sandbox.startExecution({ app: 'manual', env: 'prod', image: `manual@${v2.digest}` }),
    );
    expect(sandbox.release('manual', 'prod')).toMatchObject({
      digest: v2.digest,
      previous: { digest: v1.digest },
    });

    // Act: a "Rollback Requested" event, as a user would put it on the Gantry bus.
    await sandbox.bus.publish(
      {
        version: '0',
        id: 'c3d1f7e0-4f7b-4b69-9d0e-0a8c0f6f3b11',
        'detail-type': 'Rollback Requested',
        source: 'gantry',
        account: '123456789012',
        time: new Date().toISOString(),
        region: 'eu-west-1',
        resources: [],
        detail: { app: 'manual', env: 'prod', reason: 'bad release' },
      },
      sandbox.gantryBus,
    );
    await sandbox.idle();

    // Assess
    expect(sandbox.release('manual', 'prod')).toMatchObject({
      kind: 'rollback',
      digest: v1.digest,
      reason: 'bad release',
      rolledBackFrom: { digest: v2.digest },
    });
  });

  it('ends in RollbackFailed, with the lock released, when the rollback fails too', async () => {
    // Prepare
    sandbox.seedApp({ app: 'doomed', env: 'prod', repository: 'doomed' });
    const v1 = await sandbox.push({ repository: 'doomed', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    // v1 now crashes too (say, a dependency it needs is gone), so putting it back fails.
    sandbox.emulator.ecs.setScenario(v1.digest, 'crashLoop');

    // Act
    await sandbox.push({ repository: 'doomed', tag: 'v2.0.0', scenario: 'crashLoop' });
    await sandbox.idle();

    // Assess
    const failed = executionsOf(sandbox, 'doomed').find((execution) => execution.status === 'FAILED');
    expect(failed?.error).toBe('RollbackFailed');
    expect(failed?.states.at(-1)).toBe('RollbackFailed');
    expect(sandbox.release('doomed', 'prod')?.kind).toBe('rollback-failed');
    expect(sandbox.emulator.ssm.get('/gantry/doomed/prod/lock')).toBeUndefined();
    const announced = sandbox.emulator.events.history.filter((event) => event.source === 'gantry');
    expect(announced.map((event) => event['detail-type'])).toContain('Rollback Failed');
  });
});
