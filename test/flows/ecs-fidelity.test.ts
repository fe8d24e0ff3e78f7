import { ECSClient, TagResourceCommand } from '@aws-sdk/client-ecs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { callsFor, executionsOf, onlyExecutionOf } from '../support/flows.ts';

/**
 * ECS behaviours the happy path never meets: an API that lags behind its events, a circuit
 * breaker that rolls back late. The real
 * deploy ASL and handlers against the sandbox's emulated AWS; each test seeds an app of its own.
 */
describe('ECS fidelity flows (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterEach(() => {
    sandbox.emulator.ecs.setListTasksLag(0);
    sandbox.emulator.ecs.setUnmodeledFields({});
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

  it("waits for ECS's circuit-breaker rollback that is not PRIMARY yet instead of starting a second one", async () => {
    // Prepare: the breaker trips before Gantry's own count, and ECS starts its rollback late.
    sandbox.seedApp({
      app: 'slowbreaker',
      env: 'prod',
      repository: 'slowbreaker',
      circuitBreaker: { enable: true, rollback: true },
      config: { health: { timeoutSeconds: 900, maxFailedTasks: 50 } },
    });
    await sandbox.push({ repository: 'slowbreaker', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    const updatesBefore = callsFor(sandbox, 'UpdateService', 'slowbreaker').length;

    // Act
    await sandbox.push({
      repository: 'slowbreaker',
      tag: 'v2.0.0',
      scenario: { kind: 'crashLoop', breakerRollbackDelaySeconds: 300 },
    });
    await sandbox.idle();

    // Assess: Gantry's deploy was the only UpdateService; the rollback was ECS's.
    const failed = executionsOf(sandbox, 'slowbreaker').find((execution) => execution.status === 'FAILED');
    expect(failed?.error).toBe('RolloutFailed');
    expect(failed?.states.at(-1)).toBe('RolledBack');
    expect(callsFor(sandbox, 'UpdateService', 'slowbreaker').length - updatesBefore).toBe(1);
    expect(sandbox.release('slowbreaker', 'prod')?.kind).toBe('rollback');
  });

  it('refuses to copy a task definition with fields the bundled SDK would drop, changing nothing', async () => {
    // Prepare: ECS now answers with a container field newer than the bundled SDK.
    const { cluster, service } = sandbox.seedApp({ app: 'future', env: 'prod', repository: 'future' });
    const v1 = await sandbox.push({ repository: 'future', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    const liveBefore = sandbox.emulator.ecs.describeService(cluster, service).taskDefinition;
    sandbox.emulator.ecs.setUnmodeledFields({ containerDefinition: { restartAttemptsWindow: 300 } });
    const registeredBefore = callsFor(sandbox, 'RegisterTaskDefinition', 'future').length;

    // Act
    await sandbox.push({ repository: 'future', tag: 'v2.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Assess
    const failed = executionsOf(sandbox, 'future').find((execution) => execution.status === 'FAILED');
    expect(failed?.error).toBe('TaskDefinitionNotCopyable');
    expect(failed?.cause).toContain('containerDefinitions[0].restartAttemptsWindow');
    expect(failed?.states.at(-1)).toBe('FailedBeforeChange');
    expect(callsFor(sandbox, 'RegisterTaskDefinition', 'future')).toHaveLength(registeredBefore);
    expect(sandbox.emulator.ecs.describeService(cluster, service).taskDefinition).toBe(liveBefore);
    expect(sandbox.release('future', 'prod')?.digest).toBe(v1.digest);
  });

  it('refuses a service without the gantry:managed tag at ResolveConfig, then deploys it once tagged', async () => {
    // Prepare
    const { cluster, service } = sandbox.seedApp({
      app: 'untagged',
      env: 'prod',
      repository: 'untagged',
      managed: false,
    });
    const ecs = new ECSClient(sandbox.emulator.clientConfig);

    // Act
    await sandbox.push({ repository: 'untagged', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    const refused = onlyExecutionOf(sandbox, 'untagged');
    const { serviceArn } = sandbox.emulator.ecs.describeService(cluster, service);
    await ecs.send(
      new TagResourceCommand({
        resourceArn: String(serviceArn),
        tags: [{ key: 'gantry:managed', value: 'true' }],
      }),
    );
    const v2 = await sandbox.push({ repository: 'untagged', tag: 'v2.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Assess
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('ServiceNotManaged');
    expect(refused.cause).toContain('add the tag gantry:managed=true');
    expect(refused.states).toEqual(['ResolveConfig', 'Rejected']);
    expect(sandbox.release('untagged', 'prod')?.digest).toBe(v2.digest);
  });
});
