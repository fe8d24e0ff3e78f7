import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Invocation } from '../../sandbox/runner.ts';
import { ecrPushEvent, type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { callsFor, executionsOf } from '../support/flows.ts';

/** Watches invocations: Deploy of an app/env must never start while another of its deploys holds the lock. */
function overlapWatcher() {
  const active = new Map<string, Set<string>>();
  const overlaps: string[] = [];
  const observe = ({ state, executionArn, executionInput }: Invocation) => {
    const { app, env } = JSON.parse(executionInput) as { app: string; env: string };
    const key = `${app}/${env}`;
    const holders = active.get(key) ?? new Set<string>();
    active.set(key, holders);
    if (state === 'Deploy') {
      if ([...holders].some((holder) => holder !== executionArn)) overlaps.push(`${key}: ${executionArn}`);
      holders.add(executionArn);
    }
    if (state === 'ReleaseLock') holders.delete(executionArn);
  };
  return { observe, overlaps };
}

describe('competing deploys (sandbox)', () => {
  let sandbox: Sandbox;
  const executionsOfBurst = (apps: string[]) => apps.flatMap((app) => executionsOf(sandbox, app));

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('lets a newer push wait for the running deploy and supersede the older waiting one', async () => {
    // Prepare
    sandbox.seedApp({ app: 'queue', env: 'prod', repository: 'queue' });
    const watcher = overlapWatcher();
    sandbox.stepFunctions.hooks.observe = watcher.observe;
    const deploying = new Promise<void>((resolve) => {
      const observe = watcher.observe;
      sandbox.stepFunctions.hooks.observe = (invocation) => {
        observe(invocation);
        if (invocation.state === 'WaitForRollout') resolve();
      };
    });

    // Act: v2 and v3 arrive while v1 rolls out, in that order.
    const v1 = await sandbox.push({
      repository: 'queue',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 120 },
    });
    await deploying;
    const v2 = await sandbox.push({ repository: 'queue', tag: 'v2.0.0' });
    await sandbox.elapse(1);
    const v3 = await sandbox.push({ repository: 'queue', tag: 'v3.0.0' });
    await sandbox.idle();

    // Assess
    const executions = executionsOf(sandbox, 'queue');
    expect(executions.map((execution) => execution.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const byDigest = (digest: string) => sandbox.executionFor(digest);
    expect(byDigest(v1.digest)?.states.at(-1)).toBe('Deployed');
    expect(byDigest(v2.digest)?.states.at(-1)).toBe('Superseded');
    expect(byDigest(v3.digest)?.states.at(-1)).toBe('Deployed');
    expect(sandbox.release('queue', 'prod')?.digest).toBe(v3.digest);
    expect(callsFor(sandbox, 'RegisterTaskDefinition', v2.digest)).toEqual([]);
    expect(watcher.overlaps).toEqual([]);
    const announced = sandbox.emulator.events.history.filter((event) => event.source === 'gantry');
    expect(announced.map((event) => event['detail-type'])).toContain('Request Superseded');
  });

  it('rolls a deploy that waited for the lock back to the release that went live meanwhile', async () => {
    // Prepare: v1 live; v2 rolls out slowly; v3 (broken) arrives and waits for v2.
    sandbox.seedApp({ app: 'stale', env: 'prod', repository: 'stale' });
    await sandbox.push({ repository: 'stale', tag: 'v1.0.0' });
    await sandbox.idle();
    const v2Rolling = new Promise<void>((resolve) => {
      sandbox.stepFunctions.hooks.observe = ({ state, executionInput }) =>
        state === 'WaitForRollout' && executionInput.includes('stale') && resolve();
    });
    const v2 = await sandbox.push({
      repository: 'stale',
      tag: 'v2.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 120 },
    });
    await v2Rolling;
    await sandbox.elapse(1);

    // Act
    const v3 = await sandbox.push({ repository: 'stale', tag: 'v3.0.0', scenario: 'crashLoop' });
    await sandbox.idle();

    // Assess: v3 resolved its plan while v1 was live, but must roll back to v2.
    expect(sandbox.release('stale', 'prod')).toMatchObject({
      kind: 'rollback',
      digest: v2.digest,
      rolledBackFrom: { digest: v3.digest },
      previous: { digest: expect.any(String) },
    });
  });

  it('lets an older push delivered late stand down instead of replacing a newer release', async () => {
    // Prepare
    sandbox.seedApp({ app: 'late', env: 'prod', repository: 'late' });
    const pushedEarlier = sandbox.emulator.clock.now();
    const old = sandbox.emulator.ecr.putImage({ repository: 'late', tag: 'v1.0.0' });
    await sandbox.elapse(5);
    const newer = await sandbox.push({ repository: 'late', tag: 'v2.0.0' });
    await sandbox.idle();

    // Act: EventBridge delivers the older push only now.
    await sandbox.bus.publish(
      ecrPushEvent({
        region: 'eu-west-1',
        accountId: '123456789012',
        repository: 'late',
        tag: 'v1.0.0',
        digest: old.digest,
        time: pushedEarlier,
      }),
    );
    await sandbox.idle();

    // Assess
    const late = sandbox.executionFor(old.digest);
    expect(late?.states.at(-1)).toBe('Superseded');
    expect(sandbox.release('late', 'prod')?.digest).toBe(newer.digest);
  });

  // Its timeout is a hang guard, not a speed goal: ~20-30 s alone, several times that on a loaded
  // machine. Load must not change its outcome: the quotas refill on the clock's monotonic nominal
  // time and the sandbox times Lambda invocations with hang guards only (test/sandbox/clock.test.ts,
  // runner-context.test.ts).
  it('handles 100 pushes over 10 app/environments: no overlap, newest wins, no stuck lock', async () => {
    // Prepare
    // At Parameter Store's real throughput (the emulator enforces 40 reads/s and 3 writes/s by default).
    const apps = Array.from({ length: 10 }, (_, index) => `burst${index}`);
    for (const app of apps) sandbox.seedApp({ app, env: 'prod', repository: app });
    const watcher = overlapWatcher();
    sandbox.stepFunctions.hooks.observe = watcher.observe;

    const callsBefore = sandbox.emulator.calls.length;

    // Act: ten rounds, each pushing a newer tag of every app at once.
    const newest = new Map<string, string>();
    for (let round = 1; round <= 10; round++) {
      const pushed = await Promise.all(
        apps.map((app) => sandbox.push({ repository: app, tag: `v1.0.${round}` })),
      );
      for (const [index, { digest }] of pushed.entries()) newest.set(apps[index] ?? '', digest);
      // Later pushes carry later event times, as real pushes a moment apart do.
      await sandbox.elapse(1);
    }
    await sandbox.idle();

    // Assess
    for (const app of apps) {
      const executions = executionsOf(sandbox, app);
      expect(executions, app).toHaveLength(10);
      expect(
        executions
          .filter((execution) => execution.status !== 'SUCCEEDED')
          .map((e) => `${e.error}: ${e.cause} ${e.states.join()}`),
        app,
      ).toEqual([]);
      expect(sandbox.release(app, 'prod')?.digest, app).toBe(newest.get(app));
      expect(
        sandbox.emulator.dynamodb.getItem(sandbox.coordinationTable, {
          pk: { S: `app#${app}#prod` },
          sk: { S: 'lock' },
        }),
        app,
      ).toBeUndefined();
    }
    expect(watcher.overlaps).toEqual([]);
    // Parameter Store's shared read quota (40 TPS) and its writes are spent only on config and
    // the live release: no lock, waiter or token parameter, and no polling while waiting. Per
    // push the deploy itself reads config and release once, in one GetParameters call
    // (ResolveConfig), and writes only a
    // recorded release; the entry Lambda's reads come on top: one GetParameters per push (config
    // and live release of the app/environment the repository index names) and, for each
    // repository the index has not seen yet, the config tree once.
    // Calls the quota throttled were retried by the SDK: count the answered ones, and check that
    // throttling is the only refusal the burst met (a first release missing is no error either:
    // GetParameters lists it among InvalidParameters).
    const ssmAttempts = sandbox.emulator.calls.slice(callsBefore).filter((call) => call.service === 'ssm');
    const errors = new Set(ssmAttempts.flatMap((call) => (call.error ? [call.error] : [])));
    errors.delete('ThrottlingException');
    expect([...errors]).toEqual([]);
    const ssmCalls = ssmAttempts.filter((call) => call.error !== 'ThrottlingException');
    const count = (caller: string, operation: string) =>
      ssmCalls.filter((call) => call.caller === caller && call.operation === operation).length;
    // A step whose SDK retries ran out under the quota is retried by the state machine and reads
    // again: a few extra reads, never a read per second of waiting.
    expect(count('resolveConfig', 'GetParameters')).toBeGreaterThanOrEqual(100);
    expect(count('resolveConfig', 'GetParameters')).toBeLessThan(100 * 1.1);
    expect(count('onImagePushed', 'GetParameters')).toBeGreaterThanOrEqual(100);
    expect(count('onImagePushed', 'GetParameters')).toBeLessThan(100 * 1.1);
    expect(count('recordOutcome', 'PutParameter')).toBe(
      executionsOfBurst(apps).filter((execution) => execution.states.includes('RecordRelease')).length,
    );
    const callers = new Set(ssmCalls.map((call) => `${call.caller}:${call.operation}`));
    expect([...callers].sort()).toEqual([
      'onImagePushed:GetParameters',
      'onImagePushed:GetParametersByPath',
      'recordOutcome:PutParameter',
      'resolveConfig:GetParameters',
    ]);
  }, 180_000);
});
