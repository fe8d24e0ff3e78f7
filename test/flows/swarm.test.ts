import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReconcileSummary } from '../../functions/src/reconcile/reconcile.ts';
import { swarmParameters, swarmRolloutDetailType } from '../../functions/src/swarm/contract.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { until } from '../support/docker-lab.ts';
import { callsFor, onlyExecutionOf } from '../support/flows.ts';

const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';

/**
 * The swarm target end to end in the sandbox: the real ASL and handlers, the emulator's SSM, SQS,
 * Lightsail and EventBridge, and the real host agent in process on the Docker Engine API
 * SIMULATOR. Each test seeds an app of its own.
 */
describe('swarm flows (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 100 });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  /** Every order Gantry wrote for the app/env, oldest first (the PutParameter calls on the order). */
  const orders = (app: string) =>
    callsFor(sandbox, 'PutParameter', swarmParameters('/gantry', app, 'prod').order).map(
      (call) =>
        JSON.parse(String((call.input as { Value?: string }).Value)) as { kind: string; force: boolean },
    );

  /** Every service of the app runs this image in the simulator (spec and running tasks). */
  function runningImages(app: string): string[] {
    const tasks = sandbox.docker?.swarm.listTasks({ 'desired-state': ['running'] }) ?? [];
    return [
      ...new Set(
        tasks
          .filter((task) => String((task as { ServiceID?: string }).ServiceID ?? '') !== '')
          .map(
            (task) => task as { Spec?: { ContainerSpec?: { Image?: string } }; Status?: { State?: string } },
          )
          .filter((task) => task.Status?.State === 'running')
          .map((task) => task.Spec?.ContainerSpec?.Image ?? '')
          .filter((image) => image.includes(`/${app}@`)),
      ),
    ];
  }

  it('deploys a pushed image to every service and records the release from the agent’s event', async () => {
    // Prepare
    await sandbox.seedSwarmApp({ app: 'shop', env: 'prod', repository: 'shop' });

    // Act
    const { digest } = await sandbox.push({ repository: 'shop', tag: 'v1.0.0', swarmScenario: 'healthy' });
    await sandbox.idle();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'shop');
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states).toEqual([
      'ResolveConfig',
      'AcquireLock',
      'LockAcquired?',
      'Deploy',
      'ServiceDeployment?',
      'WaitForRollout',
      'HealthGate?',
      'RecordRelease',
      'ReleaseLock',
      'WakeWaiter',
      'HowDidItEnd?',
      'Deployed',
    ]);
    const image = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop@${digest}`;
    expect(sandbox.release('shop', 'prod')).toMatchObject({ kind: 'release', digest, revision: image });
    expect(runningImages('shop')).toEqual([image]);
    expect(
      sandbox.bus.deliveries.filter((d) => d.functionKey === 'onSwarmEvent' && d.ok).length,
    ).toBeGreaterThan(0);
  });

  it('lets the reconciler read what a swarm runs under its own role, and find no drift after a deploy', async () => {
    // Prepare: a release recorded from the agent's report.
    await sandbox.seedSwarmApp({ app: 'census', env: 'prod', repository: 'census' });
    await sandbox.push({ repository: 'census', tag: 'v1.0.0', swarmScenario: 'healthy' });
    await sandbox.idle();

    // Act: one scheduled run; it reads the agent's status parameter through the target seam.
    const delivery = await sandbox.runSchedule('reconcile');
    await sandbox.idle();

    // Assess
    const summary = delivery.result as ReconcileSummary;
    const outcome = summary.outcomes.find((candidate) => candidate.app === 'census');
    expect(outcome).toMatchObject({ status: 'checked', drift: { action: 'none' } });
    expect(
      sandbox.emulator.calls.filter(
        (call) => call.caller === 'reconcile' && call.error === 'AccessDeniedException',
      ),
    ).toEqual([]);
  });

  it('records Swarm’s own rollback of a crash-looping image once, without ordering a second rollback', async () => {
    // Prepare
    await sandbox.seedSwarmApp({ app: 'crashy', env: 'prod', repository: 'crashy' });
    const good = await sandbox.push({ repository: 'crashy', tag: 'v1.0.0', swarmScenario: 'healthy' });
    await sandbox.idle();

    // Act
    await sandbox.push({
      repository: 'crashy',
      tag: 'v1.1.0',
      swarmScenario: { kind: 'crashLoop', exitCode: 3 },
    });
    await sandbox.idle();

    // Assess
    const last = sandbox.stepFunctions
      .listExecutions()
      .filter((e) => e.input.includes('crashy'))
      .at(-1);
    expect(last?.status).toBe('FAILED');
    expect(last?.states).toContain('Rollback');
    expect(sandbox.release('crashy', 'prod')).toMatchObject({
      kind: 'rollback',
      digest: good.digest,
      cause: { error: 'RolloutFailed' },
    });
    // One deploy order per push, no rollback order: Swarm already put the services back.
    expect(orders('crashy').map((order) => order.kind)).toEqual(['deploy', 'deploy']);
    expect(runningImages('crashy')).toEqual([
      `123456789012.dkr.ecr.eu-west-1.amazonaws.com/crashy@${good.digest}`,
    ]);
  });

  it('deploys through the timeout path when the agent’s events are lost', async () => {
    // Prepare
    await sandbox.seedSwarmApp({
      app: 'deaf',
      env: 'prod',
      repository: 'deaf',
      config: { health: { timeoutSeconds: 60, maxFailedTasks: 2 } },
    });
    const undrop = sandbox.emulator.events.dropWhen(
      (event) =>
        event['detail-type'] === swarmRolloutDetailType && JSON.stringify(event.detail).includes('"deaf"'),
    );

    // Act
    const { digest } = await sandbox.push({ repository: 'deaf', tag: 'v1.0.0', swarmScenario: 'healthy' });
    await sandbox.idle();
    undrop();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'deaf');
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states).toContain('CheckRollout');
    expect(sandbox.release('deaf', 'prod')).toMatchObject({ kind: 'release', digest });
  });

  it('orders a rollback that paused once more, forced, then ends RollbackFailed', async () => {
    // Prepare: no agent; the test reports as the agent would, so the rollback's own update pauses
    // twice (Docker's default rollback failure action is pause).
    await sandbox.seedSwarmApp({ app: 'stuck', env: 'prod', repository: 'stuck', agent: false });
    const events = new EventBridgeClient(sandbox.emulator.clientConfig);
    const names = swarmParameters('/gantry', 'stuck', 'prod');
    const good = `${registry}/stuck@sha256:${'a'.repeat(64)}`;
    sandbox.emulator.ssm.put(
      '/gantry/stuck/prod/release',
      JSON.stringify({
        kind: 'release',
        image: good,
        digest: `sha256:${'a'.repeat(64)}`,
        revision: good,
        at: '2026-12-01T00:00:00Z',
        executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:gantry-sandbox-deploy:seed',
        requestedAt: '2026-12-01T00:00:00Z',
        previous: null,
      }),
    );
    /** Waits for an order of this kind, then reports it ended in `state` (status parameter, then event). */
    async function agentReports(kind: string, state: string, image: string): Promise<string> {
      let deploymentId = '';
      await until(`a ${kind} order`, async () => {
        const order = JSON.parse(sandbox.emulator.ssm.get(names.order) ?? '{}') as { deploymentId?: string };
        deploymentId = order.deploymentId ?? '';
        return deploymentId.startsWith(kind);
      });
      const report = {
        app: 'stuck',
        env: 'prod',
        deploymentId,
        state,
        reason: `stuck_web: task exited (4)`,
        services: ['stuck_web', 'stuck_worker'].map((name) => ({
          name,
          specImage: image,
          runningImages: [],
          updateState: state,
          failedTasks: [
            { taskId: `t-${name}`, state: 'failed', exitCode: 4, error: 'task: non-zero exit (4)' },
          ],
        })),
        agent: 'test-agent',
        reportedAt: new Date(sandbox.emulator.clock.now()).toISOString(),
      };
      sandbox.emulator.ssm.put(names.status, JSON.stringify(report));
      await events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: sandbox.gantryBus,
              Source: 'gantry.agent',
              DetailType: swarmRolloutDetailType,
              Detail: JSON.stringify(report),
            },
          ],
        }),
      );
      return deploymentId;
    }

    // Act
    await sandbox.push({ repository: 'stuck', tag: 'v1.1.0' });
    await agentReports('deploy-', 'failed', good);
    await agentReports('rollback-', 'rollback_paused', good);
    await agentReports('rollback-forced-', 'rollback_paused', good);
    await sandbox.idle();

    // Assess
    const execution = onlyExecutionOf(sandbox, 'stuck');
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('RollbackFailed');
    expect(execution.states.filter((state) => state === 'Rollback')).toHaveLength(2);
    const kinds = orders('stuck').map((order) => `${order.kind}${order.force ? '-forced' : ''}`);
    expect(kinds).toEqual(['deploy', 'rollback', 'rollback-forced']);
    expect(sandbox.release('stuck', 'prod')).toMatchObject({
      kind: 'rollback-failed',
      cause: { error: 'RollbackFailed', message: expect.stringContaining('exit 4') },
    });
    events.destroy();
  });
});
