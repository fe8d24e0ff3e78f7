/**
 * EventBridge schedule expressions, as the sandbox bus runs scheduled rules on its simulated clock.
 *
 * Syntax and limits are EventBridge's (EventBridge user guide, "Setting a schedule pattern for
 * scheduled rules": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html,
 * and "Rate expressions reference": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html).
 * What the sandbox does not implement (`L`, `W`, `#`) is refused with a named error, never
 * silently treated as "every time".
 */

/** A schedule expression the sandbox cannot honour, or one EventBridge itself would refuse. */
export class UnsupportedScheduleExpression extends Error {
  constructor(expression: string, why: string) {
    super(`schedule expression ${JSON.stringify(expression)}: ${why}`);
    this.name = 'UnsupportedScheduleExpression';
  }
}

export type Schedule =
  | { readonly kind: 'rate'; readonly periodMs: number }
  | { readonly kind: 'cron'; readonly fields: CronFields };

/** The allowed values of each cron field; `null` for the day field that is `?`. */
export interface CronFields {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number> | null;
  readonly months: ReadonlySet<number>;
  /** 1 (SUN) to 7 (SAT), as EventBridge numbers them. */
  readonly daysOfWeek: ReadonlySet<number> | null;
  readonly years: ReadonlySet<number>;
}

const rateUnits: Record<string, { ms: number; singular: boolean }> = {
  minute: { ms: 60_000, singular: true },
  minutes: { ms: 60_000, singular: false },
  hour: { ms: 3_600_000, singular: true },
  hours: { ms: 3_600_000, singular: false },
  day: { ms: 86_400_000, singular: true },
  days: { ms: 86_400_000, singular: false },
};

export function parseScheduleExpression(expression: string): Schedule {
  const rate = /^rate\((.*)\)$/.exec(expression);
  if (rate) return parseRate(expression, rate[1] ?? '');
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (cron) return { kind: 'cron', fields: parseCron(expression, cron[1] ?? '') };
  throw new UnsupportedScheduleExpression(expression, 'neither rate(value unit) nor cron(fields)');
}

/** `rate(value unit)`: a positive whole number; the unit singular for 1 and plural above. */
function parseRate(expression: string, body: string): Schedule {
  const match = /^(\d+) ([a-z]+)$/.exec(body);
  const unit = rateUnits[match?.[2] ?? ''];
  const value = Number(match?.[1]);
  if (!match || unit === undefined || !Number.isSafeInteger(value) || value < 1) {
    throw new UnsupportedScheduleExpression(
      expression,
      'rate needs a positive whole number and one of minute(s), hour(s), day(s)',
    );
  }
  if ((value === 1) !== unit.singular) {
    throw new UnsupportedScheduleExpression(
      expression,
      'the unit must be singular for 1 and plural for more (rate(1 hour), rate(5 hours))',
    );
  }
  return { kind: 'rate', periodMs: value * unit.ms };
}

const monthNames = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const dayNames = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  readonly questionMark?: boolean;
}

const fieldSpecs: readonly FieldSpec[] = [
  { name: 'Minutes', min: 0, max: 59 },
  { name: 'Hours', min: 0, max: 23 },
  { name: 'Day-of-month', min: 1, max: 31, questionMark: true },
  { name: 'Month', min: 1, max: 12, names: monthNames },
  { name: 'Day-of-week', min: 1, max: 7, names: dayNames, questionMark: true },
  { name: 'Year', min: 1970, max: 2199 },
];

/** Six fields: minutes hours day-of-month month day-of-week year, in UTC. */
function parseCron(expression: string, body: string): CronFields {
  const parts = body.trim().split(/\s+/);
  if (parts.length !== 6) throw new UnsupportedScheduleExpression(expression, 'cron needs six fields');
  const values = parts.map((part, index) => parseField(expression, part, fieldSpecs[index] as FieldSpec));
  const [minutes, hours, daysOfMonth, months, daysOfWeek, years] = values;
  // "You can't specify the Day-of-month and Day-of-week fields in the same cron expression. If
  // you specify a value or a * (asterisk) in one of the fields, you must use a ? in the other."
  if ((daysOfMonth === null) === (daysOfWeek === null)) {
    throw new UnsupportedScheduleExpression(
      expression,
      'exactly one of Day-of-month and Day-of-week must be ?',
    );
  }
  return {
    minutes: minutes as Set<number>,
    hours: hours as Set<number>,
    daysOfMonth: daysOfMonth ?? null,
    months: months as Set<number>,
    daysOfWeek: daysOfWeek ?? null,
    years: years as Set<number>,
  };
}

function parseField(expression: string, text: string, spec: FieldSpec): Set<number> | null {
  if (text === '?') {
    if (!spec.questionMark)
      throw new UnsupportedScheduleExpression(expression, `? is not allowed in ${spec.name}`);
    return null;
  }
  // Names (WED, JUL) contain the letters; only what is left after them can be a wildcard.
  const withoutNames = spec.names
    ? text.toUpperCase().replace(new RegExp(spec.names.join('|'), 'g'), '')
    : text;
  if (/[LW#]/i.test(withoutNames)) {
    throw new UnsupportedScheduleExpression(
      expression,
      `the sandbox does not implement the L, W or # wildcards (${spec.name} ${text})`,
    );
  }
  const allowed = new Set<number>();
  for (const item of text.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isSafeInteger(step) || step < 1) {
      throw new UnsupportedScheduleExpression(expression, `bad increment in ${spec.name} ${text}`);
    }
    let from: number;
    let to: number;
    if (range === '*') {
      [from, to] = [spec.min, spec.max];
    } else if (range.includes('-')) {
      const [low = '', high = ''] = range.split('-');
      [from, to] = [fieldValue(expression, low, spec), fieldValue(expression, high, spec)];
    } else {
      from = fieldValue(expression, range, spec);
      // `1/10` in Minutes: from minute 1, every tenth minute up to the field's end.
      to = stepText === undefined ? from : spec.max;
    }
    if (from > to) throw new UnsupportedScheduleExpression(expression, `empty range in ${spec.name} ${text}`);
    for (let value = from; value <= to; value += step) allowed.add(value);
  }
  return allowed;
}

function fieldValue(expression: string, text: string, spec: FieldSpec): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  const value = named >= 0 ? named + 1 : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= spec.min && value <= spec.max)) {
    throw new UnsupportedScheduleExpression(
      expression,
      `${spec.name} takes ${spec.min}-${spec.max}${spec.names ? ` or ${spec.names[0]}-${spec.names.at(-1)}` : ''}, not ${JSON.stringify(text)}`,
    );
  }
  return value;
}

const minuteMs = 60_000;

/**
 * When the rule fires next, strictly after `afterMs`. A rate rule "starts when you create the
 * scheduled event rule" (rate expressions reference): it fires every period from `createdAtMs`.
 * A cron rule fires at the whole minutes its fields allow, in UTC; undefined when it never will
 * again (its years are over).
 */
export function nextFiring(schedule: Schedule, afterMs: number, createdAtMs: number): number | undefined {
  if (schedule.kind === 'rate') {
    const periods = Math.floor((afterMs - createdAtMs) / schedule.periodMs) + 1;
    return createdAtMs + Math.max(1, periods) * schedule.periodMs;
  }
  const { fields } = schedule;
  let at = new Date(Math.floor(afterMs / minuteMs) * minuteMs + minuteMs);
  const lastYear = Math.max(...fields.years);
  while (at.getUTCFullYear() <= lastYear) {
    if (!fields.years.has(at.getUTCFullYear()) || !fields.months.has(at.getUTCMonth() + 1)) {
      at = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
    } else if (!dayMatches(fields, at)) {
      at = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1));
    } else if (!fields.hours.has(at.getUTCHours())) {
      at = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate(), at.getUTCHours() + 1));
    } else if (!fields.minutes.has(at.getUTCMinutes())) {
      at = new Date(at.getTime() + minuteMs);
    } else {
      return at.getTime();
    }
  }
  return undefined;
}

function dayMatches(fields: CronFields, at: Date): boolean {
  if (fields.daysOfMonth !== null) return fields.daysOfMonth.has(at.getUTCDate());
  return fields.daysOfWeek?.has(at.getUTCDay() + 1) ?? false;
}
