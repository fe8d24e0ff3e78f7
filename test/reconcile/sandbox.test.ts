import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReconcileSummary } from '../../functions/src/reconcile/reconcile.ts';
import { executionName } from '../../functions/src/start-deploy.ts';
import type { Delivery } from '../../sandbox/bus.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { driftBehindGantry } from '../support/drift.ts';
import { executionsOf, liveTaskDefinition } from '../support/flows.ts';

/** serverless.yml's default schedule: rate(5 minutes). */
const periodSeconds = 300;

/**
 * The reconciler as it runs on AWS: serverless.yml's scheduled rule fires it on the sandbox's
 * simulated clock, and it reaches the emulator through the real SDK clients, checked against its
 * IAM role.
 */
describe('the reconciler (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500, schedules: true });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  /** Reconciler runs delivered so far, with the simulated time each was scheduled for. */
  const runs = () =>
    sandbox.bus.deliveries
      .filter((delivery: Delivery) => delivery.functionKey === 'reconcile')
      .map((delivery) => delivery.result as ReconcileSummary);

  /** Moves simulated time on until `done` holds, failing after `limitSeconds` of simulated time. */
  async function untilSimulated(what: string, done: () => boolean, limitSeconds: number): Promise<void> {
    const deadline = sandbox.emulator.clock.now() + limitSeconds * 1000;
    while (!done()) {
      if (sandbox.emulator.clock.now() > deadline)
        throw new Error(`${what}: not within ${limitSeconds} simulated s`);
      await sandbox.elapse(5);
    }
  }

  it("deploys a push whose event EventBridge lost within one period, under the entry Lambda's execution name", async () => {
    // Prepare: v1.0.0 went live through its event; v1.1.0's push event is lost.
    sandbox.seedApp({ app: 'lost', env: 'prod', repository: 'lost' });
    await sandbox.push({ repository: 'lost', tag: 'v1.0.0' });
    await sandbox.idle();
    const lostAt = sandbox.emulator.clock.now();
    const runsBefore = runs().length;
    const { digest } = sandbox.emulator.ecr.putImage({ repository: 'lost', tag: 'v1.1.0' });

    // Act
    await untilSimulated(
      'the lost push deployed',
      () => sandbox.release('lost', 'prod')?.digest === digest,
      2 * periodSeconds,
    );

    // Assess
    const starting = runs()
      .slice(runsBefore)
      .find((run) =>
        run.outcomes.some(
          (o) => o.app === 'lost' && o.status === 'checked' && o.lostPush.action === 'started',
        ),
      );
    expect(starting).toBeDefined();
    const [execution] = executionsOf(sandbox, 'lost').filter((e) => e.input.includes(digest));
    expect(execution?.name).toBe(executionName('push', 'lost', 'prod', digest));
    expect(JSON.parse(execution?.input ?? '{}')).toMatchObject({
      source: 'reconciler',
      image: expect.stringContaining(`lost:v1.1.0@${digest}`),
    });
    // The run that started it was the first one after the loss: within one period.
    expect(Date.parse(starting?.runAt ?? '') - lostAt).toBeLessThanOrEqual(periodSeconds * 1000);
  });

  it('never doubles a deploy its push event started, while that deploy is still rolling out', async () => {
    // Prepare: a slow rollout spans several reconciler runs.
    sandbox.seedApp({ app: 'slowpoke', env: 'prod', repository: 'slowpoke' });
    await sandbox.elapse(1);
    const runsBefore = runs().length;
    const { digest } = await sandbox.push({
      repository: 'slowpoke',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 2 * periodSeconds },
    });

    // Act
    await untilSimulated(
      'a reconciler run during the rollout',
      () => runs().length > runsBefore,
      2 * periodSeconds,
    );
    await sandbox.idle();

    // Assess
    const during = runs()
      .slice(runsBefore)
      .flatMap((run) => run.outcomes)
      .filter((outcome) => outcome.app === 'slowpoke');
    expect(during[0]).toMatchObject({
      status: 'checked',
      lostPush: { action: 'none', why: `the deploy of ${digest} was started already (RUNNING)` },
    });
    expect(executionsOf(sandbox, 'slowpoke')).toHaveLength(1);
    expect(sandbox.release('slowpoke', 'prod')?.digest).toBe(digest);
  });

  it('never redeploys a digest Gantry rolled back, even re-tagged', async () => {
    // Prepare: v1.0.0 live, v1.1.0 crash-loops and is rolled back; then someone tags it again.
    sandbox.seedApp({ app: 'burnt', env: 'prod', repository: 'burnt' });
    await sandbox.push({ repository: 'burnt', tag: 'v1.0.0' });
    await sandbox.idle();
    const { digest } = await sandbox.push({
      repository: 'burnt',
      tag: 'v1.1.0',
      scenario: { kind: 'crashLoop' },
    });
    await sandbox.idle();
    expect(sandbox.release('burnt', 'prod')).toMatchObject({ kind: 'rollback', rolledBackFrom: { digest } });
    sandbox.emulator.ecr.putImage({ repository: 'burnt', tag: 'v1.1.1', digest });
    const runsBefore = runs().length;

    // Act
    await untilSimulated('two reconciler runs', () => runs().length >= runsBefore + 2, 3 * periodSeconds);
    await sandbox.idle();

    // Assess
    expect(
      executionsOf(sandbox, 'burnt').filter((execution) => execution.input.includes(digest)),
    ).toHaveLength(1);
    expect(sandbox.release('burnt', 'prod')).toMatchObject({ kind: 'rollback', rolledBackFrom: { digest } });
  });

  const gantryEvents = (detailType: string, app: string) =>
    sandbox.emulator.events.history.filter(
      (event) =>
        event.source === 'gantry' &&
        event['detail-type'] === detailType &&
        (event.detail as { app?: string }).app === app,
    );

  it("reports a service changed behind Gantry's back with both sides, and leaves it as it is", async () => {
    // Prepare
    sandbox.seedApp({ app: 'drifty', env: 'prod', repository: 'drifty' });
    await sandbox.push({ repository: 'drifty', tag: 'v1.0.0' });
    await sandbox.idle();
    const recorded = sandbox.release('drifty', 'prod');
    const other = sandbox.emulator.ecr.putImage({ repository: 'drifty', tag: 'hotfix' });
    const otherImage = `${sandbox.emulator.ecr.registry}/drifty@${other.digest}`;

    // Act
    const revision = await driftBehindGantry(sandbox, 'drifty', otherImage);
    await untilSimulated(
      'Drift Detected',
      () => gantryEvents('Drift Detected', 'drifty').length > 0,
      2 * periodSeconds,
    );

    // Assess
    expect(gantryEvents('Drift Detected', 'drifty')[0]?.detail).toEqual({
      app: 'drifty',
      env: 'prod',
      recorded: {
        revision: recorded?.revision,
        image: recorded?.image,
        digest: recorded?.digest,
        tag: 'v1.0.0',
        at: recorded?.at,
        executionArn: recorded?.executionArn,
      },
      running: { revision, image: otherImage },
      differences: ['revision', 'image'],
      onDrift: 'report',
    });
    expect((await liveTaskDefinition(sandbox, 'prod', 'drifty'))?.taskDefinitionArn).toBe(revision);
    expect(sandbox.release('drifty', 'prod')).toEqual(recorded);
  });

  it('puts the recorded release back with onDrift: restore, once, keeping its record', async () => {
    // Prepare
    sandbox.seedApp({ app: 'mended', env: 'prod', repository: 'mended', config: { onDrift: 'restore' } });
    await sandbox.push({ repository: 'mended', tag: 'v1.0.0' });
    await sandbox.idle();
    await sandbox.push({ repository: 'mended', tag: 'v1.1.0' });
    await sandbox.idle();
    const recorded = sandbox.release('mended', 'prod');
    const other = sandbox.emulator.ecr.putImage({ repository: 'mended', tag: 'hotfix' });

    // Act
    await driftBehindGantry(sandbox, 'mended', `${sandbox.emulator.ecr.registry}/mended@${other.digest}`);
    await untilSimulated(
      'Drift Restored',
      () => gantryEvents('Drift Restored', 'mended').length > 0,
      3 * periodSeconds,
    );
    const runsAfter = runs().length;
    await untilSimulated('one more reconciler run', () => runs().length > runsAfter, 2 * periodSeconds);
    await sandbox.idle();

    // Assess
    expect((await liveTaskDefinition(sandbox, 'prod', 'mended'))?.taskDefinitionArn).toBe(recorded?.revision);
    expect(sandbox.release('mended', 'prod')).toMatchObject({
      kind: 'release',
      digest: recorded?.digest,
      revision: recorded?.revision,
      previous: recorded?.previous,
      reason: expect.stringContaining('drift: the target ran'),
    });
    expect(
      executionsOf(sandbox, 'mended').filter((execution) => execution.name.startsWith('restore-')),
    ).toHaveLength(1);
    expect(gantryEvents('Drift Detected', 'mended')).toHaveLength(1);
  });
});
