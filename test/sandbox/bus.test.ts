import { describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../sandbox/bus.ts';
import { SimClock } from '../../sandbox/emulator/index.ts';

describe('the local event bus', () => {
  const rule = { functionKey: 'onThing', bus: 'default', pattern: { source: ['test'] } };

  it("retries a failing target as Lambda's async invocation does: a minute, then two minutes later", async () => {
    // Prepare
    const clock = new SimClock(0);
    const attemptsAt: number[] = [];
    const bus = new LocalEventBus(
      [rule],
      {
        onThing: async () => {
          attemptsAt.push(clock.now());
          if (attemptsAt.length < 3) throw new Error('Rate exceeded');
          return 'done';
        },
      },
      (ms) => new Promise<void>((resolve) => clock.schedule(ms, resolve)),
    );

    // Act
    const delivered = bus.publish({ source: 'test', 'detail-type': 'Thing' });
    await clock.advance(60_000);
    await clock.advance(120_000);

    // Assess
    expect(attemptsAt).toEqual([0, 60_000, 180_000]);
    expect(await delivered).toEqual([
      { functionKey: 'onThing', detailType: 'Thing', ok: true, result: 'done' },
    ]);
  });

  it('gives up after the third attempt and reports the last error', async () => {
    // Prepare
    let attempts = 0;
    const bus = new LocalEventBus([rule], {
      onThing: async () => {
        attempts += 1;
        throw new Error(`failure ${attempts}`);
      },
    });

    // Act
    const [delivery] = await bus.publish({ source: 'test', 'detail-type': 'Thing' });

    // Assess
    expect(attempts).toBe(3);
    expect(delivery).toMatchObject({ ok: false, error: { name: 'Error', message: 'failure 3' } });
  });
});
