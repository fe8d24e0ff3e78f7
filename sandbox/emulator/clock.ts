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
  cancelled: boolean;
}

const before = (a: Timer, b: Timer) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/**
 * The timers as a binary min-heap on (due time, order scheduled): a fleet-size run keeps tens of
 * thousands of timers (events, sleeps, rollouts) pending, and scanning them all per fired timer
 * made the clock quadratic. Cancelled timers stay in the heap, marked, until they reach its top.
 */
class TimerHeap {
  readonly #heap: Timer[] = [];
  #live = 0;

  get size(): number {
    return this.#live;
  }

  push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    this.#live++;
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, heap[parent] as Timer)) break;
      heap[i] = heap[parent] as Timer;
      i = parent;
    }
    heap[i] = timer;
  }

  cancel(timer: Timer): void {
    if (timer.cancelled) return;
    timer.cancelled = true;
    this.#live--;
  }

  /** The next live timer, left in place. */
  peek(): Timer | undefined {
    while (this.#heap[0]?.cancelled) this.#pop();
    return this.#heap[0];
  }

  /** Removes the next live timer (the one {@link TimerHeap.peek} returned). */
  take(): Timer | undefined {
    const next = this.peek();
    if (next === undefined) return undefined;
    this.#pop();
    next.cancelled = true;
    this.#live--;
    return next;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right] as Timer, heap[left] as Timer) ? right : left;
      if (!before(heap[child] as Timer, last)) break;
      heap[i] = heap[child] as Timer;
      i = child;
    }
    heap[i] = last;
  }
}

/** Options of {@link SimClock.startVirtual}. */
export interface VirtualOptions {
  /** Called when a timer's callback throws; defaults to `console.error`. */
  readonly onError?: (error: unknown) => void;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

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
  readonly #timers = new TimerHeap();
  #advancing = false;
  /** Work under way outside the clock's timers (see {@link SimClock.hold}); virtual time waits for none. */
  #holds = 0;
  /** Bumped by every hold: a quiet check that saw it move saw work start and end in between. */
  #epoch = 0;
  #onQuiet: (() => void) | undefined;
  #onActivity: (() => void) | undefined;
  #stopVirtual: (() => void) | undefined;
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
    return this.#timers.size;
  }

  /** Runs `run` once the clock reaches now + delayMs (0: at the next advance). Returns a cancel function. */
  schedule(delayMs: number, run: () => void): () => void {
    const timer: Timer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, run, cancelled: false };
    this.#timers.push(timer);
    this.#activity();
    return () => this.#timers.cancel(timer);
  }

  /** Work held now (see {@link SimClock.hold}). */
  held(): number {
    return this.#holds;
  }

  /** Resolves once the clock has moved `ms` on (a sleep in simulated time). */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.schedule(ms, resolve);
    });
  }

  /**
   * Marks work under way that the clock does not see as a timer (an HTTP call in flight, an
   * execution between two states): virtual time ({@link SimClock.startVirtual}) does not move while
   * any is held. Returns the release. The release takes effect a turn of the event loop later, so
   * the promise continuations of the work just done (a Lambda's code between two SDK calls, a state
   * machine's next state) run, and hold again if they start more work, before the clock moves.
   * Work waiting on the clock itself ({@link SimClock.sleep}) holds nothing: that is what lets
   * the clock reach its timer.
   */
  hold(): () => void {
    this.#holds++;
    this.#epoch++;
    this.#activity();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      setImmediate(() => {
        this.#holds--;
        if (this.#holds === 0) this.#onQuiet?.();
      });
    };
  }

  /**
   * Virtual time, until the returned function is called: the clock jumps to its next timer as soon
   * as no work is held ({@link SimClock.hold}), however long that work took in real time. A slow
   * machine then cannot hide a quota behind its own slowness (on a realtime clock, simulated time
   * runs on while the sandbox computes, so calls arrive at the rate the CPU allows, not at the
   * rate the scenario asks for) and a run is as fast as the CPU allows. Listeners are not awaited
   * between timers, as they are by {@link SimClock.advance}: a listener's work holds the clock
   * through its calls, and may sleep on it.
   */
  startVirtual(options: VirtualOptions = {}): () => void {
    if (this.#stopVirtual !== undefined) return this.#stopVirtual;
    const onError = options.onError ?? ((error: unknown) => console.error('[emulator clock]', error));
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      this.#stopVirtual = undefined;
      this.#onQuiet?.();
      this.#onActivity?.();
    };
    this.#stopVirtual = stop;
    const loop = async (): Promise<void> => {
      while (!stopped) {
        await this.#quiet();
        if (stopped) return;
        const next = this.#timers.take();
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            this.#onActivity = resolve;
          });
          this.#onActivity = undefined;
          continue;
        }
        this.#now = Math.max(this.#now, next.at);
        const release = this.hold();
        try {
          next.run();
        } catch (error) {
          onError(error);
        } finally {
          release();
        }
      }
    };
    void loop();
    return stop;
  }

  /** Resolves once no work has been held for two turns of the event loop. */
  async #quiet(): Promise<void> {
    for (;;) {
      if (this.#holds > 0) {
        await new Promise<void>((resolve) => {
          this.#onQuiet = resolve;
        });
        this.#onQuiet = undefined;
      }
      const epoch = this.#epoch;
      await nextTurn();
      await nextTurn();
      if (this.#holds === 0 && this.#epoch === epoch) return;
    }
  }

  #activity(): void {
    const wake = this.#onActivity;
    this.#onActivity = undefined;
    wake?.();
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
    await this.#runUntil(end, () => this.#timers.size === 0, false);
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
    this.#stopVirtual?.();
  }

  async #runUntil(end: number, stop: () => boolean, moveToEnd = true): Promise<void> {
    if (this.#advancing) throw new Error('SimClock: advance() called while the clock is already advancing');
    this.#advancing = true;
    try {
      await this.#afterTimer();
      for (;;) {
        if (stop()) return;
        const due = this.#timers.peek();
        if (due === undefined || due.at > end) break;
        const next = this.#timers.take() as Timer;
        this.#now = Math.max(this.#now, next.at);
        next.run();
        await this.#afterTimer();
      }
      if (moveToEnd) this.#now = Math.max(this.#now, end);
    } finally {
      this.#advancing = false;
    }
  }
}
