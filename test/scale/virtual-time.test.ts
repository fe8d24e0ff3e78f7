import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, describe, expect, it } from 'vitest';
import { SimClock } from '../../sandbox/emulator/clock.ts';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { simulatedClientConfig } from '../../sandbox/simulated-sdk.ts';

/** Lets the event loop turn `count` times: whatever the clock could do meanwhile, it has done. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('SimClock on virtual time', () => {
  let stop = () => {};
  afterEach(() => stop());

  it('fires its timers in due order, skipping cancelled ones, without waiting real time', async () => {
    // Prepare
    const clock = new SimClock(0);
    const fired: number[] = [];
    clock.schedule(30_000, () => fired.push(30));
    const cancel = clock.schedule(20_000, () => fired.push(20));
    clock.schedule(10_000, () => fired.push(10));
    cancel();
    // Act
    stop = clock.startVirtual();
    await clock.sleep(60_000);
    // Assess
    expect(fired).toEqual([10, 30]);
    expect(clock.now()).toBe(60_000);
    expect(clock.pending()).toBe(0);
  });

  it('does not move while work is held, and moves on once it is released', async () => {
    // Prepare
    const clock = new SimClock(0);
    let fired = false;
    clock.schedule(1_000, () => {
      fired = true;
    });
    const release = clock.hold();
    // Act
    stop = clock.startVirtual();
    await turns(20);
    const whileHeld = { fired, now: clock.now() };
    release();
    await clock.sleep(2_000);
    // Assess
    expect(whileHeld).toEqual({ fired: false, now: 0 });
    expect(fired).toBe(true);
    expect(clock.now()).toBe(2_000);
  });
});

describe("the sandbox's SDK clients on virtual time", () => {
  let emulator: Emulator;
  afterEach(async () => {
    await emulator.close();
  });

  it('wait out a throttle with the standard retry backoff in simulated time', async () => {
    // Prepare: half of each backoff's ceiling (1 s after a throttle, doubling per retry).
    emulator = await startEmulator({ startTime: 0 });
    emulator.ssm.put('/app/key', 'value');
    emulator.faults.add({ service: 'ssm', times: 2, error: 'ThrottlingException' });
    const ssm = new SSMClient(simulatedClientConfig(emulator.clientConfig, emulator.clock, () => 0.5));
    emulator.clock.startVirtual();
    // Act
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/app/key' }));
    // Assess
    expect(Parameter?.Value).toBe('value');
    expect(emulator.clock.now()).toBe(500 + 1_000);
    ssm.destroy();
  });
});

describe('state machine retries on virtual time', () => {
  let sandbox: Sandbox;
  afterEach(async () => {
    await sandbox.close();
  });

  it("waits each retry's backoff as the definition writes it, on the simulated clock", async () => {
    // Prepare: ResolveConfig retries TransientAwsError after 2 s, then 4 s (BackoffRate 2), with
    // full jitter: half of each here.
    sandbox = await startSandbox({ time: 'virtual', random: () => 0.5 });
    sandbox.seedApp({ app: 'web', env: 'prod', repository: 'web', desiredCount: 1 });
    const attempts: number[] = [];
    sandbox.stepFunctions.hooks.observe = ({ state }) => {
      if (state === 'ResolveConfig') attempts.push(sandbox.emulator.clock.now());
    };
    sandbox.stepFunctions.hooks.crash = ({ state }) =>
      state === 'ResolveConfig' && attempts.length <= 2
        ? { name: 'TransientAwsError', message: 'injected' }
        : undefined;
    // Act
    const { digest } = await sandbox.push({ repository: 'web', tag: 'v1.0.1' });
    await sandbox.idle();
    // Assess
    const [first = 0, second = 0, third = 0] = attempts;
    expect([second - first, third - second]).toEqual([1_000, 2_000]);
    expect(sandbox.executionFor(digest)?.states.at(-1)).toBe('Deployed');
  });
});
