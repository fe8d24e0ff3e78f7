/**
 * The simulated clock that drives the emulator's ECS rollouts and event delivery.
 *
 * Nothing in the emulator reads the wall clock: timestamps come from {@link SimClock.now} and every
 * delayed effect (a task reaching RUNNING, a deployment completing, an event being delivered) is a
 * timer on this clock. Tests move it by hand ({@link SimClock.advance}, {@link SimClock.runUntilIdle})
 * so a ten-minute rollout takes milliseconds; demos let it follow real time at a chosen speed
 * ({@link SimClock.startRealtime}).
 */

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** Options of {@link SimClock.startRealtime}. */
export interface RealtimeOptions {
  /** Simulated milliseconds per real millisecond (default 1; 60 shows a 30 s rollout in half a second). */
  readonly speed?: number;
  /** Real milliseconds between two advances (default 100). */
  readonly tickMs?: number;
  /** Called when a tick fails (a listener threw); defaults to `console.error`. */
  readonly onError?: (error: unknown) => void;
}

export class SimClock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];
  #advancing = false;
  readonly #realtime = new Set<() => void>();
  /** Where the running realtime loop's current tick started: real time, and nominal time then. */
  #tick: { readonly realMs: number; readonly nominalMs: number; readonly speed: number } | undefined;
  /** The latest nominal time handed out: nominal time never runs backwards. */
  #nominal: number;
  readonly #afterTimer: () => Promise<void>;

  /**
   * @param startMs epoch milliseconds the clock starts at.
   * @param afterTimer awaited after each timer fires, so listeners' async work (which may call the
   *   emulator and schedule more timers) is finished before the clock picks the next timer.
   */
  constructor(startMs: number, afterTimer: () => Promise<void> = async () => {}) {
    this.#now = startMs;
    this.#nominal = startMs;
    this.#afterTimer = afterTimer;
  }

  /** Simulated epoch milliseconds. */
  now(): number {
    return this.#now;
  }

  /**
   * The simulated time the clock would show had no listener held it: while a tick waits on a
   * listener (a Lambda behind an event), {@link SimClock.now} stands still but real time, and so a
   * realtime clock's nominal time, moves on. For rates and quotas, which must refill while a
   * throttled caller backs off in real time. Equal to `now()` when no realtime loop ever ran.
   *
   * Monotonic, as a token bucket's time must be: a tick held for longer than it spans carries its
   * nominal time into the next tick, which would otherwise restart from the held `now()`, up to
   * (hold × speed) earlier. On a loaded machine that step back (hours of simulated time after a
   * tick held for seconds) froze Parameter Store's quotas: nothing refilled until nominal time had
   * caught up again, so every retry in between (the SDK's and the state machine's) was throttled.
   */
  nominalNow(): number {
    const tick = this.#tick;
    const running =
      tick === undefined ? this.#now : tick.nominalMs + (performance.now() - tick.realMs) * tick.speed;
    this.#nominal = Math.max(this.#nominal, this.#now, running);
    return this.#nominal;
  }

  /** Number of timers waiting to fire. */
  pending(): number {
    return this.#timers.length;
  }

  /** Runs `run` once the clock reaches now + delayMs (0: at the next advance). Returns a cancel function. */
  schedule(delayMs: number, run: () => void): () => void {
    const timer: Timer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, run };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Moves the clock forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    await this.#runUntil(this.#now + Math.max(0, ms), () => false);
  }

  /**
   * Fires timers in order until none is left or `limitMs` of simulated time has passed (default one
   * hour: a crash-looping service without circuit breaker never goes idle). Returns the simulated
   * milliseconds elapsed.
   */
  async runUntilIdle(options: { limitMs?: number } = {}): Promise<number> {
    const start = this.#now;
    const end = start + (options.limitMs ?? 3_600_000);
    await this.#runUntil(end, () => this.#timers.length === 0, false);
    return this.#now - start;
  }

  /**
   * Fires timers in order until `predicate` holds (checked before each timer) or `limitMs` passes.
   * Returns whether the predicate held.
   */
  async advanceUntil(predicate: () => boolean, options: { limitMs?: number } = {}): Promise<boolean> {
    const end = this.#now + (options.limitMs ?? 3_600_000);
    await this.#runUntil(end, predicate, false);
    return predicate();
  }

  /**
   * Lets simulated time follow real time, `speed` times faster, until the returned function is called.
   * For demos; tests drive the clock by hand.
   */
  startRealtime(options: RealtimeOptions = {}): () => void {
    const speed = options.speed ?? 1;
    const tickMs = options.tickMs ?? 100;
    const onError = options.onError ?? ((error: unknown) => console.error('[emulator clock]', error));
    let busy = false;
    const interval = setInterval(() => {
      // A slow listener must not make ticks overlap: the clock would fire timers out of order.
      if (busy) return;
      busy = true;
      this.#tick = { realMs: performance.now(), nominalMs: this.nominalNow(), speed };
      this.advance(tickMs * speed)
        .catch(onError)
        .finally(() => {
          busy = false;
        });
    }, tickMs);
    interval.unref();
    const stop = (): void => {
      clearInterval(interval);
      this.#realtime.delete(stop);
      if (this.#realtime.size === 0) this.#tick = undefined;
    };
    this.#realtime.add(stop);
    return stop;
  }

  /** Stops every realtime loop started with {@link SimClock.startRealtime}. */
  stopRealtime(): void {
    for (const stop of [...this.#realtime]) stop();
  }

  async #runUntil(end: number, stop: () => boolean, moveToEnd = true): Promise<void> {
    if (this.#advancing) throw new Error('SimClock: advance() called while the clock is already advancing');
    this.#advancing = true;
    try {
      await this.#afterTimer();
      for (;;) {
        if (stop()) return;
        const next = this.#nextDue(end);
        if (next === undefined) break;
        this.#timers = this.#timers.filter((t) => t !== next);
        this.#now = Math.max(this.#now, next.at);
        next.run();
        await this.#afterTimer();
      }
      if (moveToEnd) this.#now = Math.max(this.#now, end);
    } finally {
      this.#advancing = false;
    }
  }

  #nextDue(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers) {
      if (t.at > end) continue;
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
