import { HttpError } from './errors.ts';

/**
 * Bounds concurrent resizes in one process: `maxConcurrent` run, `maxQueued` wait, the rest get a
 * 503 with Retry-After at once. Failing fast beats queueing without bound: a queued request holds
 * its encoded original in memory and would likely time out anyway.
 */
export class ResizeLimiter {
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  readonly #retryAfter: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(options: { maxConcurrent: number; maxQueued: number; retryAfterSeconds: number }) {
    this.#maxConcurrent = options.maxConcurrent;
    this.#maxQueued = options.maxQueued;
    this.#retryAfter = options.retryAfterSeconds;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#maxConcurrent) {
      if (this.#waiting.length >= this.#maxQueued) {
        throw new HttpError(503, 'Resize.Busy', 'too many resizes in progress, retry shortly', {
          retryAfter: this.#retryAfter,
        });
      }
      // The slot is handed over by the finishing task, so #active never drops in between.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active -= 1;
    }
  }
}
