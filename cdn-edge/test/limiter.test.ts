import { describe, expect, it } from 'vitest';
import { HttpError } from '../src/errors.ts';
import { ResizeLimiter } from '../src/limiter.ts';

function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('ResizeLimiter', () => {
  it('runs up to the bound, queues up to the queue size, and refuses the rest with 503', async () => {
    const limiter = new ResizeLimiter({ maxConcurrent: 2, maxQueued: 1, retryAfterSeconds: 4 });
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );

    const refused = await limiter.run(async () => 'never').catch((e: unknown) => e);

    expect(refused).toBeInstanceOf(HttpError);
    expect(refused).toMatchObject({ status: 503, code: 'Resize.Busy', retryAfter: 4 });
    expect(started).toEqual([0, 1]);
    expect({ active: limiter.active, queued: limiter.queued }).toEqual({ active: 2, queued: 1 });

    gates[0]?.resolve();
    await runs[0];
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    expect({ active: limiter.active, queued: limiter.queued }).toEqual({ active: 2, queued: 0 });

    gates[1]?.resolve();
    gates[2]?.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(limiter.active).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const limiter = new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 1 });

    await expect(limiter.run(() => Promise.reject(new Error('decode failed')))).rejects.toThrow(
      'decode failed',
    );

    expect(await limiter.run(async () => 'ok')).toBe('ok');
  });
});
