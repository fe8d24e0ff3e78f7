import { randomUUID } from 'node:crypto';
import type { SimClock } from './clock.ts';
import {
  AwsError,
  isObject,
  type JsonObject,
  type Operation,
  type Params,
  type ServiceDefinition,
  UnsupportedParameter,
} from './protocol.ts';

/** An event as EventBridge delivers it to a rule target. */
export interface AwsEvent<Detail = unknown> {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Detail;
}

/**
 * Receives every event: PutEvents entries and the simulated ECS events, with the bus it was put on
 * (`default` for AWS services' own events, which EventBridge delivers to the default bus only).
 * May be async.
 */
export type EventListener = (event: AwsEvent, bus: string) => void | Promise<void>;

/**
 * Delivers events to listeners on the simulated clock, never inside the API call that caused them
 * (real EventBridge is asynchronous too), and keeps track of listeners' pending promises so the clock
 * can wait for them.
 */
export class EventHub {
  readonly #listeners = new Set<EventListener>();
  readonly #dropRules = new Set<(event: AwsEvent) => boolean>();
  readonly #pending = new Set<Promise<void>>();
  readonly #errors: unknown[] = [];
  /** Events a drop rule swallowed, oldest first. */
  readonly dropped: AwsEvent[] = [];
  /** Every event delivered (or dropped), oldest first. */
  readonly history: AwsEvent[] = [];
  /** Custom buses created in this account (the default bus always exists). */
  readonly #buses = new Set<string>();
  readonly #clock: SimClock;
  readonly #region: string;
  readonly #account: string;

  constructor(clock: SimClock, region: string, account: string) {
    this.#clock = clock;
    this.#region = region;
    this.#account = account;
  }

  on(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  dropWhen(predicate: (event: AwsEvent) => boolean): () => void {
    this.#dropRules.add(predicate);
    return () => this.#dropRules.delete(predicate);
  }

  /** Creates a custom event bus (CreateEventBus, as the stack would), so PutEvents can name it. */
  createBus(name: string): void {
    // Custom bus names: 1-256 of [/\.\-_A-Za-z0-9], not `default` (API_CreateEventBus, `Name`).
    if (!/^[/.\-_A-Za-z0-9]{1,256}$/.test(name) || name === 'default') {
      throw new Error(`EventBridge emulator: '${name}' is not a custom event bus name`);
    }
    this.#buses.add(name);
  }

  /** The bus a PutEvents entry names (name or ARN), if it exists: `default` when none is named. */
  busOf(named: unknown): string | undefined {
    if (named === undefined) return 'default';
    if (typeof named !== 'string') return undefined;
    const prefix = `arn:aws:events:${this.#region}:${this.#account}:event-bus/`;
    const name = named.startsWith(prefix) ? named.slice(prefix.length) : named;
    return name === 'default' || this.#buses.has(name) ? name : undefined;
  }

  /** Builds the envelope and queues delivery at the current simulated time (next clock step). */
  emit(input: {
    source: string;
    detailType: string;
    detail: unknown;
    resources?: readonly string[];
    time?: number;
    /** The bus it was put on (default: the default bus). */
    bus?: string;
  }): AwsEvent {
    const event: AwsEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': input.detailType,
      source: input.source,
      account: this.#account,
      time: isoSeconds(input.time ?? this.#clock.now()),
      region: this.#region,
      resources: [...(input.resources ?? [])],
      detail: input.detail,
    };
    const bus = input.bus ?? 'default';
    this.#clock.schedule(0, () => this.#deliver(event, bus));
    return event;
  }

  /** Waits for listeners' promises (including ones started while waiting); rethrows their failures. */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) {
      await Promise.allSettled([...this.#pending]);
    }
    if (this.#errors.length > 0) {
      const errors = this.#errors.splice(0);
      throw errors.length === 1 ? errors[0] : new AggregateError(errors, 'event listeners failed');
    }
  }

  #deliver(event: AwsEvent, bus: string): void {
    this.history.push(event);
    for (const rule of this.#dropRules) {
      if (rule(event)) {
        this.dropped.push(event);
        return;
      }
    }
    for (const listener of this.#listeners) {
      try {
        const result = listener(event, bus);
        if (result instanceof Promise) {
          const tracked: Promise<void> = result
            .catch((error: unknown) => {
              this.#errors.push(error);
            })
            .finally(() => this.#pending.delete(tracked));
          this.#pending.add(tracked);
        }
      } catch (error) {
        this.#errors.push(error);
      }
    }
  }
}

/** EventBridge writes `time` without milliseconds. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

const ENTRY_KEYS = ['Source', 'DetailType', 'Detail', 'Resources', 'EventBusName', 'Time'] as const;

/** EventBridge PutEvents onto the default bus or a custom bus created with {@link EventHub.createBus}. */
export function eventsService(hub: EventHub): ServiceDefinition {
  const putEvents: Operation = {
    keys: ['Entries'],
    handle(params: Params) {
      const entries = params.objectArray('Entries', ENTRY_KEYS);
      if (entries === undefined || entries.length === 0 || entries.length > 10) {
        throw new AwsError('ValidationException', 'PutEvents: Entries must hold 1 to 10 entries');
      }
      const results = entries.map((entry) => putOne(entry));
      return {
        FailedEntryCount: results.filter((r) => r.ErrorCode !== undefined).length,
        Entries: results,
      };
    },
  };

  function putOne(entry: JsonObject): { EventId?: string; ErrorCode?: string; ErrorMessage?: string } {
    const bus = hub.busOf(entry.EventBusName);
    if (bus === undefined) {
      throw new UnsupportedParameter(
        `PutEvents: EventBusName '${String(entry.EventBusName)}' is neither the default bus nor a bus created in the emulator`,
      );
    }
    for (const key of ['Source', 'DetailType', 'Detail'] as const) {
      if (typeof entry[key] !== 'string' || entry[key] === '') {
        return {
          ErrorCode: 'InvalidArgument',
          ErrorMessage: `Parameter ${key} is not valid. Reason: ${key} is a required argument.`,
        };
      }
    }
    let detail: unknown;
    try {
      detail = JSON.parse(String(entry.Detail));
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (!isObject(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    const resources = entry.Resources;
    if (
      resources !== undefined &&
      !(Array.isArray(resources) && resources.every((r) => typeof r === 'string'))
    ) {
      throw new AwsError('ValidationException', 'PutEvents: Resources must be a list of strings');
    }
    const time = typeof entry.Time === 'number' ? entry.Time * 1000 : undefined;
    const event = hub.emit({
      source: String(entry.Source),
      detailType: String(entry.DetailType),
      detail,
      resources: (resources ?? []) as string[],
      ...(time === undefined ? {} : { time }),
      bus,
    });
    return { EventId: event.id };
  }

  return {
    name: 'events',
    targetPrefix: 'AWSEvents',
    validationError: 'ValidationException',
    operations: { PutEvents: putEvents },
  };
}
