import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { nextFiring, parseScheduleExpression, type Schedule } from './schedule-expression.ts';

/** An EventBridge event pattern, as written in serverless.yml. */
export type EventPattern = { [field: string]: EventPattern | PatternValue[] | EventPattern[] };
type PatternValue = string | number | boolean | null | { [operator: string]: unknown };

export interface EventRule {
  functionKey: string;
  pattern: EventPattern;
  /** The name of the event bus the rule is on (`default` unless serverless.yml names one). */
  bus: string;
}

export const serverlessConfigPath = new URL('../serverless.yml', import.meta.url);

type ServerlessConfig = {
  service: string;
  custom?: Record<string, unknown>;
  functions: Record<
    string,
    { events?: { eventBridge?: { pattern?: EventPattern; eventBus?: unknown }; schedule?: unknown }[] }
  >;
  resources?: unknown;
};

/**
 * The `eventBridge` triggers declared in serverless.yml: the sandbox routes with exactly these,
 * each on the bus it names, for the given stage.
 */
export function readEventRules(path: URL | string = serverlessConfigPath, stage = 'sandbox'): EventRule[] {
  const config = parse(readFileSync(path, 'utf8')) as ServerlessConfig;
  return Object.entries(config.functions).flatMap(([functionKey, fn]) =>
    (fn.events ?? []).flatMap((trigger) =>
      trigger.eventBridge?.pattern
        ? [
            {
              functionKey,
              pattern: trigger.eventBridge.pattern,
              bus: busName(config, trigger.eventBridge.eventBus, stage),
            },
          ]
        : [],
    ),
  );
}

/**
 * A scheduled rule: osls turns a function's `schedule` event into an `AWS::Events::Rule` with a
 * `ScheduleExpression` whose target is the function.
 */
export interface ScheduleRule {
  functionKey: string;
  /** The rule's name: it ends the rule ARN a Scheduled Event names in `resources`. */
  name: string;
  expression: string;
  schedule: Schedule;
}

/**
 * The enabled `schedule` events of serverless.yml (a string, or `{ rate, name, enabled }` whose
 * `rate` is one expression or a list), each expression parsed: an expression the sandbox cannot
 * run, or an option that changes the event it sends (`input`, `inputPath`, `inputTransformer`),
 * throws here rather than be run differently from EventBridge.
 */
export function readScheduleRules(
  path: URL | string = serverlessConfigPath,
  stage = 'sandbox',
): ScheduleRule[] {
  const config = parse(readFileSync(path, 'utf8')) as ServerlessConfig;
  return Object.entries(config.functions).flatMap(([functionKey, fn]) =>
    (fn.events ?? []).flatMap((trigger, index) => {
      if (trigger.schedule === undefined) return [];
      const declared =
        typeof trigger.schedule === 'string'
          ? { rate: trigger.schedule }
          : (trigger.schedule as Record<string, unknown>);
      const unsupported = Object.keys(declared).filter(
        (key) => !['rate', 'name', 'enabled', 'description'].includes(key),
      );
      if (unsupported.length > 0) {
        throw new Error(
          `the sandbox does not run ${functionKey}'s schedule option(s) ${unsupported.join(', ')}`,
        );
      }
      if (declared.enabled === false) return [];
      const expressions = (Array.isArray(declared.rate) ? declared.rate : [declared.rate]).map((rate) =>
        resolveVariables(config, String(rate), stage),
      );
      const name =
        declared.name === undefined
          ? `${config.service}-${stage}-${functionKey}-schedule-${index + 1}`
          : resolveVariables(config, String(declared.name), stage);
      return expressions.map((expression) => ({
        functionKey,
        name,
        expression,
        schedule: parseScheduleExpression(expression),
      }));
    }),
  );
}

/**
 * The serverless variables the sandbox resolves (in bus names and schedules): `self:service`, `sls:stage` and
 * `self:custom.<path>` (itself resolved). Any other variable throws: guessing its value would run
 * a schedule the stack does not have.
 */
function resolveVariables(config: ServerlessConfig, text: string, stage: string, depth = 0): string {
  if (depth > 5) throw new Error(`serverless variables nest too deep in ${JSON.stringify(text)}`);
  return text.replace(/\$\{([^}]+)\}/g, (_, variable: string) => {
    if (variable === 'self:service') return config.service;
    if (variable === 'sls:stage') return stage;
    const custom = /^self:custom\.([\w.]+)$/.exec(variable);
    if (custom) {
      const value = (custom[1] ?? '')
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], config.custom);
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new Error(`the sandbox cannot resolve \${${variable}} to a value`);
      }
      return resolveVariables(config, String(value), stage, depth + 1);
    }
    throw new Error(`the sandbox does not resolve the serverless variable \${${variable}}`);
  });
}

/**
 * A rule's bus as osls reads `eventBus`: absent is the default bus; a name or an ARN names it;
 * `Fn::GetAtt: [<EventBus resource>, Name]` is that resource's `Name`. Anything else throws.
 */
function busName(config: ServerlessConfig, eventBus: unknown, stage: string): string {
  if (eventBus === undefined) return 'default';
  if (typeof eventBus === 'string')
    return eventBus.startsWith('arn:') ? eventBus.replace(/^.*:event-bus\//, '') : eventBus;
  const getAtt = (eventBus as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[1] === 'Name') {
    const fragments = Array.isArray(config.resources) ? config.resources : [config.resources];
    for (const fragment of fragments) {
      const resource = (
        fragment as { Resources?: Record<string, { Type?: string; Properties?: { Name?: string } }> }
      )?.Resources?.[String(getAtt[0])];
      if (resource?.Type === 'AWS::Events::EventBus' && typeof resource.Properties?.Name === 'string') {
        return resolveVariables(config, resource.Properties.Name, stage);
      }
    }
  }
  throw new Error(`the sandbox cannot tell which event bus ${JSON.stringify(eventBus)} names`);
}

/**
 * EventBridge matching for the subset of pattern syntax Gantry's rules use: exact values,
 * nested fields, `$or`, `prefix`, `suffix`, `wildcard`, `anything-but`, `exists`. Anything else throws, so a rule
 * the sandbox cannot honour fails loudly instead of silently never matching.
 */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return Object.entries(pattern).every(([field, expected]) => {
    // `$or`: any one of the listed sub-patterns matches at this level.
    if (field === '$or') return (expected as EventPattern[]).some((branch) => matchesPattern(branch, event));
    const actual = isObject(event) ? event[field] : undefined;
    if (Array.isArray(expected)) return matchesValues(expected, actual);
    return isObject(actual) && matchesPattern(expected, actual);
  });
}

function matchesValues(expected: PatternValue[], actual: unknown): boolean {
  const candidates = Array.isArray(actual) ? actual : [actual];
  return expected.some((rule) => {
    if (isObject(rule)) return matchesOperator(rule, actual, candidates);
    return candidates.some((candidate) => candidate === rule);
  });
}

function matchesOperator(rule: Record<string, unknown>, actual: unknown, candidates: unknown[]): boolean {
  const [operator, operand] = Object.entries(rule)[0] ?? [];
  switch (operator) {
    case 'prefix':
      return candidates.some((value) => typeof value === 'string' && value.startsWith(String(operand)));
    case 'suffix':
      return candidates.some((value) => typeof value === 'string' && value.endsWith(String(operand)));
    case 'wildcard':
      return candidates.some(
        (value) => typeof value === 'string' && wildcardRegExp(String(operand)).test(value),
      );
    case 'exists':
      return (actual !== undefined) === operand;
    case 'anything-but': {
      const excluded = Array.isArray(operand) ? operand : [operand];
      return actual !== undefined && candidates.every((value) => !excluded.includes(value));
    }
    default:
      throw new Error(`the sandbox event bus does not implement the "${operator}" pattern operator`);
  }
}

/** EventBridge's `wildcard`: `*` matches any run of characters, everything else itself, case-sensitively. */
function wildcardRegExp(pattern: string): RegExp {
  const literal = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${literal.join('.*')}$`, 's');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Lambda's asynchronous invocation: on a function error it runs the event "two more times, with a
 * one-minute wait between the first two attempts, and two minutes between the second and third"
 * (Lambda developer guide, "How Lambda handles errors and retries with asynchronous invocation":
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
 */
const asyncRetryDelaysMs = [60_000, 120_000];

export type EventTarget = (event: unknown) => Promise<unknown>;

export interface Delivery {
  functionKey: string;
  detailType: string;
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string };
}

/**
 * Delivers each event to every function whose rule matches, as EventBridge invokes rule targets:
 * asynchronously, so a failing invocation is tried again (Lambda's async retries: two more, a
 * minute and then two minutes later, on the time `wait` keeps: the sandbox's simulated clock).
 */
export class LocalEventBus {
  readonly deliveries: Delivery[] = [];

  constructor(
    private readonly rules: EventRule[],
    private readonly targets: Record<string, EventTarget>,
    private readonly wait: (ms: number) => Promise<void> = async () => {},
  ) {
    for (const rule of rules) {
      if (!targets[rule.functionKey]) throw new Error(`no local target for ${rule.functionKey}`);
    }
  }

  /** Delivers `event` as put on `bus`: only the rules on that bus see it, as on EventBridge. */
  async publish<E extends { readonly 'detail-type'?: string }>(
    event: E,
    bus = 'default',
  ): Promise<Delivery[]> {
    const matched = this.rules.filter((rule) => rule.bus === bus && matchesPattern(rule.pattern, event));
    const deliveries = await Promise.all(matched.map(({ functionKey }) => this.#deliver(functionKey, event)));
    this.deliveries.push(...deliveries);
    return deliveries;
  }

  /**
   * Runs scheduled rules on `clock` until the returned function is called: each fires its target
   * with a Scheduled Event at the times its expression gives, counted from now (the rule's
   * creation), and is invoked asynchronously like any rule target.
   */
  startSchedules(
    schedules: readonly ScheduleRule[],
    clock: ScheduleClock,
    where: { account: string; region: string },
  ): () => void {
    for (const rule of schedules) {
      if (!this.targets[rule.functionKey]) throw new Error(`no local target for ${rule.functionKey}`);
    }
    const createdAt = clock.now();
    const cancels = new Set<() => void>();
    const arm = (rule: ScheduleRule, after: number): void => {
      const at = nextFiring(rule.schedule, after, createdAt);
      if (at === undefined) return;
      const cancel = clock.schedule(at - clock.now(), () => {
        cancels.delete(cancel);
        arm(rule, at);
        void this.fireSchedule(rule, at, where);
      });
      cancels.add(cancel);
    };
    for (const rule of schedules) arm(rule, createdAt);
    return () => {
      for (const cancel of cancels) cancel();
      cancels.clear();
    };
  }

  /** Fires one scheduled rule as its schedule does at `time`: its target gets the Scheduled Event. */
  async fireSchedule(
    rule: ScheduleRule,
    time: number,
    where: { account: string; region: string },
  ): Promise<Delivery> {
    const delivery = await this.#deliver(
      rule.functionKey,
      scheduledEvent({ ...where, ruleName: rule.name, time }),
    );
    this.deliveries.push(delivery);
    return delivery;
  }

  async #deliver(functionKey: string, event: { readonly 'detail-type'?: string }): Promise<Delivery> {
    const base = { functionKey, detailType: event['detail-type'] ?? '' };
    let failure: Error | undefined;
    for (let attempt = 0; attempt <= asyncRetryDelaysMs.length; attempt++) {
      if (attempt > 0) await this.wait(asyncRetryDelaysMs[attempt - 1] ?? 0);
      try {
        return { ...base, ok: true, result: await this.targets[functionKey]?.(structuredClone(event)) };
      } catch (error) {
        failure = error as Error;
      }
    }
    return {
      ...base,
      ok: false,
      error: { name: failure?.name ?? 'Error', message: failure?.message ?? '' },
    };
  }
}

/** The clock scheduled rules run on: the emulator's simulated clock. */
export interface ScheduleClock {
  now(): number;
  schedule(delayMs: number, run: () => void): () => void;
}

/**
 * The event a scheduled rule sends its targets: source `aws.events`, detail-type `Scheduled Event`,
 * the rule's ARN in `resources`, an empty detail (EventBridge events reference, "Amazon
 * EventBridge events": https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-events.html;
 * the shape as in `ScheduledEvent` of @types/aws-lambda and aws-lambda-rust-runtime's
 * eventbridge schedule fixture). `time` is the scheduled time, to the second.
 */
export function scheduledEvent(input: { account: string; region: string; ruleName: string; time: number }) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: input.account,
    time: new Date(input.time).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: input.region,
    resources: [`arn:aws:events:${input.region}:${input.account}:rule/${input.ruleName}`],
    detail: {},
  };
}
