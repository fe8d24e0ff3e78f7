import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimClock } from '../../sandbox/emulator/clock.ts';
import { Params } from '../../sandbox/emulator/protocol.ts';
import { SSM_THROUGHPUT, SsmState } from '../../sandbox/emulator/ssm.ts';

/**
 * A realtime clock at the sandbox's speed (500, 10 ms ticks) whose first tick a listener holds,
 * as a Lambda behind an event does, until `release()`.
 */
async function startHeldTick() {
  let held: Promise<void> | undefined;
  let release = () => {};
  const clock = new SimClock(0, () => held ?? Promise.resolve());
  const stop = clock.startRealtime({ speed: 500, tickMs: 10 });
  clock.schedule(0, () => {
    held = new Promise<void>((resolve) => {
      release = () => {
        held = undefined;
        resolve();
      };
    });
  });
  await vi.advanceTimersByTimeAsync(10);
  return { clock, release: () => release(), stop };
}

function useFakeRealtime() {
  beforeEach(() => {
    // The realtime loop runs on setInterval and measures real time with performance.now().
    vi.useFakeTimers({
      toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'performance'],
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

describe('SimClock nominal time', () => {
  useFakeRealtime();

  it('keeps moving with real time while a listener holds the clock', async () => {
    // Prepare
    const { clock, release, stop } = await startHeldTick();

    // Act: a Lambda behind the event takes two real seconds.
    await vi.advanceTimersByTimeAsync(2_000);

    // Assess
    expect(clock.now()).toBe(0);
    expect(clock.nominalNow()).toBeGreaterThanOrEqual(2_000 * 500);
    release();
    stop();
  });

  it('never runs backwards when the tick after a held one restarts from the held time', async () => {
    // Prepare: a tick held for two real seconds (a loaded machine), then released.
    const { clock, release, stop } = await startHeldTick();
    await vi.advanceTimersByTimeAsync(2_000);
    const duringHold = clock.nominalNow();
    release();
    await vi.advanceTimersByTimeAsync(0);

    // Act: the next ticks run; the simulated clock itself only moved one tick on.
    await vi.advanceTimersByTimeAsync(20);

    // Assess
    expect(clock.now()).toBeLessThan(duringHold);
    expect(clock.nominalNow()).toBeGreaterThanOrEqual(duringHold);
    stop();
  });

  it('equals the simulated time when the clock is moved by hand', async () => {
    // Prepare
    const clock = new SimClock(1_000);

    // Act
    await clock.advance(2_500);

    // Assess
    expect(clock.nominalNow()).toBe(3_500);
  });
});

describe('Parameter Store quotas on a realtime clock', () => {
  useFakeRealtime();

  it('lets a write throttled in a held tick through after a backoff that ends in a later tick', async () => {
    // Prepare: the sandbox's speed; a Lambda holds the tick for two real seconds and spends the
    // write quota (3 a second), so its next write is throttled.
    const { clock, release, stop } = await startHeldTick();
    const ssm = new SsmState(clock, 'eu-west-1', '123456789012');
    const putParameter = ssm.service().operations.PutParameter;
    const write = (value: string) =>
      putParameter?.handle(
        new Params(
          { Name: '/gantry/web/prod/release', Value: value, Type: 'String', Overwrite: true },
          'ssm PutParameter',
          'ValidationException',
        ),
      );
    await vi.advanceTimersByTimeAsync(2_000);
    for (let i = 1; i <= SSM_THROUGHPUT.writes; i++) write(`v${i}`);
    expect(() => write('throttled')).toThrow('Rate exceeded');
    release();

    // Act: the SDK backs off half a real second (250 simulated seconds at this speed), while the
    // clock's next ticks run.
    await vi.advanceTimersByTimeAsync(500);
    write('retried');

    // Assess
    expect(ssm.get('/gantry/web/prod/release')).toBe('retried');
    stop();
  });
});
