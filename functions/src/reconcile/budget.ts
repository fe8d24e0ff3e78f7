import { CallCapReached } from '../errors.ts';

/**
 * How many AWS calls one reconciler run may make. Every call counts, whatever the service; the
 * SDK's own retries of a throttled call are not counted again (its retry mode bounds them).
 */
export class CallBudget {
  #spent = 0;

  constructor(readonly cap: number) {
    if (!Number.isInteger(cap) || cap < 1)
      throw new RangeError(`a call cap must be a whole number >= 1, not ${cap}`);
  }

  get spent(): number {
    return this.#spent;
  }

  /** Counts one call, or throws {@link CallCapReached} (and counts nothing) when the cap is spent. */
  spend(what: string): void {
    if (this.#spent >= this.cap) {
      throw new CallCapReached(`the cap of ${this.cap} AWS calls per run is spent (next call: ${what})`);
    }
    this.#spent += 1;
  }
}

type Sender = { send: (command: never, ...rest: never[]) => Promise<unknown> };

/**
 * `client` with every `send` counted against `budget`: a proxy for this run, so the client itself
 * (created once per Lambda instance) is never changed, and domain code reused from the entry
 * Lambdas (startDeploy, readRelease…) is counted without knowing it.
 */
export function budgeted<C extends Sender>(client: C, budget: CallBudget): C {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return async (command: object, ...rest: unknown[]) => {
        budget.spend(command.constructor.name);
        return (target.send as (...args: unknown[]) => Promise<unknown>).call(target, command, ...rest);
      };
    },
  });
}
