/**
 * A token bucket on the simulated clock, as AWS describes its API throttling: `bucketSize` tokens at
 * most, refilled at `refillPerSecond`; each call takes one or is throttled (and takes none).
 */
export class TokenBucket {
  readonly #bucketSize: number;
  readonly #refillPerSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;
  /** Calls throttled so far: for the bench's "which quota binds first". */
  throttled = 0;

  constructor(quota: { bucketSize: number; refillPerSecond: number }, now: () => number) {
    this.#bucketSize = quota.bucketSize;
    this.#refillPerSecond = quota.refillPerSecond;
    this.#now = now;
    this.#tokens = quota.bucketSize;
    this.#at = now();
  }

  take(): boolean {
    const now = this.#now();
    const elapsedMs = Math.max(0, now - this.#at);
    this.#at = Math.max(this.#at, now);
    this.#tokens = Math.min(this.#bucketSize, this.#tokens + (elapsedMs / 1000) * this.#refillPerSecond);
    if (this.#tokens < 1) {
      this.throttled++;
      return false;
    }
    this.#tokens -= 1;
    return true;
  }
}
