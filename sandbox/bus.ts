import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

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
  functions: Record<string, { events?: { eventBridge?: { pattern?: EventPattern; eventBus?: unknown } }[] }>;
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

const serverlessVariable = (name: string) => `\${${name}}`;

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
        // The two serverless variables a bus name may use here; any other is left for the check below.
        const name = resource.Properties.Name.replaceAll(
          serverlessVariable('self:service'),
          config.service,
        ).replaceAll(serverlessVariable('sls:stage'), stage);
        if (!name.includes('${')) return name;
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

const asyncInvokeAttempts = 3;

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
 * asynchronously, so a failing invocation is tried again (Lambda's async retries: two more).
 */
export class LocalEventBus {
  readonly deliveries: Delivery[] = [];

  constructor(
    private readonly rules: EventRule[],
    private readonly targets: Record<string, EventTarget>,
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
    const deliveries = await Promise.all(
      matched.map(async ({ functionKey }): Promise<Delivery> => {
        const base = { functionKey, detailType: event['detail-type'] ?? '' };
        let failure: Error | undefined;
        for (let attempt = 0; attempt < asyncInvokeAttempts; attempt++) {
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
      }),
    );
    this.deliveries.push(...deliveries);
    return deliveries;
  }
}
