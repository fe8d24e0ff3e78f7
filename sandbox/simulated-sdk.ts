import { Readable } from 'node:stream';
import { MAXIMUM_RETRY_DELAY, Retry, StandardRetryStrategy } from '@smithy/core/retry';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { RetryErrorInfo, RetryStrategyV2, StandardRetryToken } from '@smithy/types';
import type { SimClock } from './emulator/clock.ts';

/**
 * What the sandbox's SDK clients need on a virtual clock (SIMULATION only): their retry backoff
 * waited in simulated time, and every call in flight held on the clock so virtual time does not
 * jump while a Lambda waits for the emulator's answer.
 */

/**
 * The SDK's standard retry mode, its backoff waited on the simulated clock. On a realtime clock the
 * SDK sleeps in real time, `speed` times longer in simulated time than on AWS; on a virtual clock a
 * real-time sleep would not hold the clock, which would jump past it.
 *
 * Which errors are retried, how many attempts (3) and the retry quota (capacity 500, a retry costs
 * 14, a throttled retry 5) are the SDK's own: the decision is StandardRetryStrategy's, called with a
 * backoff of 0. The delay is then computed as its DefaultRetryBackoffStrategy does (smithy-lang
 * smithy-typescript, packages/util-retry `DefaultRetryBackoffStrategy` and `retries-2026-config`:
 * `floor(random × min(base × 2^retries, MAXIMUM_RETRY_DELAY))`, base 1,000 ms after a throttling
 * error and 50 ms otherwise, cap 20 s: the standard mode's exponential backoff with jitter, three
 * attempts, of the AWS SDKs and Tools reference guide, "Retry behavior",
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html) and slept on `clock`.
 */
export class SimulatedRetryStrategy implements RetryStrategyV2 {
  readonly mode = 'standard';
  readonly #clock: SimClock;
  readonly #random: () => number;
  readonly #decide: StandardRetryStrategy;

  /** `maxAttempts`: the SDK's default, 3, unless a client sets its own. */
  constructor(clock: SimClock, random: () => number = Math.random, maxAttempts = 3) {
    this.#clock = clock;
    this.#random = random;
    this.#decide = new StandardRetryStrategy({
      maxAttempts,
      backoff: { computeNextBackoffDelay: () => 0, setDelayBase: () => {} },
    });
  }

  acquireInitialRetryToken(scope: string): Promise<StandardRetryToken> {
    return this.#decide.acquireInitialRetryToken(scope);
  }

  async refreshRetryTokenForRetry(
    token: StandardRetryToken,
    info: RetryErrorInfo,
  ): Promise<StandardRetryToken> {
    // The decision waits a real timer of 0 ms: held, or the virtual clock would move meanwhile.
    const release = this.#clock.hold();
    let next: StandardRetryToken;
    try {
      next = await this.#decide.refreshRetryTokenForRetry(token, info);
    } finally {
      release();
    }
    const base = info.errorType === 'THROTTLING' ? Retry.throttlingDelay() : Retry.delay();
    const ceiling = Math.min(base * 2 ** token.getRetryCount(), MAXIMUM_RETRY_DELAY);
    await this.#clock.sleep(Math.floor(this.#random() * ceiling));
    return next;
  }

  recordSuccess(token: StandardRetryToken): void {
    this.#decide.recordSuccess(token);
  }
}

/**
 * The SDK's Node HTTP handler, holding `clock` from the request until the answer's body is read:
 * on a virtual clock a call in flight is work under way (SimClock.hold).
 */
export class ClockHoldingHttpHandler extends NodeHttpHandler {
  readonly #clock: SimClock;

  constructor(clock: SimClock) {
    super();
    this.#clock = clock;
  }

  override async handle(
    ...args: Parameters<NodeHttpHandler['handle']>
  ): ReturnType<NodeHttpHandler['handle']> {
    const release = this.#clock.hold();
    try {
      const answer = await super.handle(...args);
      const body = answer.response.body as Readable | undefined;
      if (body instanceof Readable) {
        // Read the body while held: its chunks arrive as I/O, which the clock does not see.
        const chunks: Buffer[] = [];
        for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
        answer.response.body = Readable.from([Buffer.concat(chunks)]);
      }
      return answer;
    } finally {
      release();
    }
  }
}

/** SDK client settings for the sandbox's Lambdas on a virtual clock. */
export function simulatedClientConfig<T extends object>(
  base: T,
  clock: SimClock,
  random?: () => number,
  maxAttempts?: number,
): T & { retryStrategy: SimulatedRetryStrategy; requestHandler: ClockHoldingHttpHandler } {
  return {
    ...base,
    retryStrategy: new SimulatedRetryStrategy(clock, random, maxAttempts),
    requestHandler: new ClockHoldingHttpHandler(clock),
  };
}
