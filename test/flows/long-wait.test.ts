import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxHistoryEvents } from '../../sandbox/runner.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { executionsOf } from '../support/flows.ts';

const day = 86_400;

describe('long waits (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    // 20,000 simulated seconds per real second: a day passes in about four seconds.
    sandbox = await startSandbox({ speed: 20_000 });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('keeps a request parked behind a 24 h rollout far under the 25,000-event history quota', async () => {
    // Prepare: v1 rolls out for (almost) a day, the longest health timeout the config allows.
    sandbox.seedApp({
      app: 'long',
      env: 'prod',
      repository: 'long',
      config: { health: { timeoutSeconds: day, maxFailedTasks: 2 } },
    });
    const rolling = new Promise<void>((resolve) => {
      sandbox.stepFunctions.hooks.observe = ({ state }) => state === 'WaitForRollout' && resolve();
    });
    const v1 = await sandbox.push({
      repository: 'long',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: day - 60 },
    });
    await rolling;
    const startedWaiting = sandbox.emulator.clock.now();

    // Act: v2 arrives and waits the whole day.
    const v2 = await sandbox.push({ repository: 'long', tag: 'v2.0.0' });
    await sandbox.idle();

    // Assess
    const waiter = sandbox.executionFor(v2.digest);
    expect(sandbox.executionFor(v1.digest)?.states.at(-1)).toBe('Deployed');
    expect(waiter?.states.at(-1)).toBe('Deployed');
    expect(sandbox.emulator.clock.now() - startedWaiting).toBeGreaterThan((day - 120) * 1000);
    // Parked, not polling: one park and one wake, whatever the wait's length.
    expect(waiter?.states.filter((state) => state === 'WaitForLock')).toEqual(['WaitForLock']);
    expect(waiter?.historyEvents).toBeLessThan(maxHistoryEvents / 20);
    expect(sandbox.release('long', 'prod')?.digest).toBe(v2.digest);
  });

  it('fails an execution whose history passes the quota, as Step Functions does', async () => {
    // Prepare: a quota a normal deploy exceeds (its history has about 50 events).
    sandbox.seedApp({ app: 'quota', env: 'prod', repository: 'quota' });
    sandbox.stepFunctions.historyQuota = 20;

    // Act
    await sandbox.push({ repository: 'quota', tag: 'v1.0.0' });
    await sandbox.idle();
    sandbox.stepFunctions.historyQuota = maxHistoryEvents;

    // Assess
    const [execution] = executionsOf(sandbox, 'quota');
    expect(execution).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
      cause: 'The execution reached the maximum number of history events (20).',
    });
  });
});
