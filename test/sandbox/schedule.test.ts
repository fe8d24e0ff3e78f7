import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalEventBus, readScheduleRules, type ScheduleRule } from '../../sandbox/bus.ts';
import { SimClock } from '../../sandbox/emulator/index.ts';
import {
  nextFiring,
  parseScheduleExpression,
  UnsupportedScheduleExpression,
} from '../../sandbox/schedule-expression.ts';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The firings of `expression` after `fromIso`, the rule created then. */
function firings(expression: string, fromIso: string, count: number): (string | undefined)[] {
  const schedule = parseScheduleExpression(expression);
  const created = at(fromIso);
  const result: (string | undefined)[] = [];
  let after = created;
  for (let index = 0; index < count; index++) {
    const next = nextFiring(schedule, after, created);
    result.push(iso(next));
    if (next === undefined) break;
    after = next;
  }
  return result;
}

describe('schedule expressions', () => {
  describe('rate', () => {
    it('fires every period from when the rule was created', () => {
      expect(firings('rate(5 minutes)', '2026-12-03T10:02:30Z', 3)).toEqual([
        '2026-12-03T10:07:30.000Z',
        '2026-12-03T10:12:30.000Z',
        '2026-12-03T10:17:30.000Z',
      ]);
      expect(firings('rate(1 day)', '2026-12-03T10:00:00Z', 1)).toEqual(['2026-12-04T10:00:00.000Z']);
    });

    it.each([
      'rate(1 hours)',
      'rate(5 hour)',
      'rate(0 minutes)',
      'rate(1.5 minutes)',
      'rate(5 seconds)',
      'rate(5minutes)',
    ])('refuses %s as EventBridge does', (expression) => {
      expect(() => parseScheduleExpression(expression)).toThrow(UnsupportedScheduleExpression);
    });
  });

  describe('cron', () => {
    it('fires at the minutes an increment gives, in UTC', () => {
      expect(firings('cron(0/15 * * * ? *)', '2026-12-03T10:02:30Z', 3)).toEqual([
        '2026-12-03T10:15:00.000Z',
        '2026-12-03T10:30:00.000Z',
        '2026-12-03T10:45:00.000Z',
      ]);
    });

    it('fires on weekdays only with a day-of-week range (1 is Sunday)', () => {
      // 2026-12-04 is a Friday: the next firings skip the weekend.
      expect(firings('cron(0 18 ? * MON-FRI *)', '2026-12-04T12:00:00Z', 2)).toEqual([
        '2026-12-04T18:00:00.000Z',
        '2026-12-07T18:00:00.000Z',
      ]);
      expect(firings('cron(0 8 ? * 1 *)', '2026-12-03T00:00:00Z', 1)).toEqual(['2026-12-06T08:00:00.000Z']);
    });

    it('fires on listed days of a named month, and never after its last year', () => {
      expect(firings('cron(30 6 1,15 JAN ? 2027)', '2026-12-03T00:00:00Z', 3)).toEqual([
        '2027-01-01T06:30:00.000Z',
        '2027-01-15T06:30:00.000Z',
        undefined,
      ]);
    });

    it.each([
      ['cron(0 10 * * * *)', 'both day fields given'],
      ['cron(0 10 ? * ? *)', 'neither day field given'],
      ['cron(0 10 * *)', 'four fields'],
      ['cron(15 10 ? * 6L 2026)', 'the L wildcard'],
      ['cron(0 10 3W * ? *)', 'the W wildcard'],
      ['cron(0 10 ? * 3#2 *)', 'the # wildcard'],
      ['cron(60 10 * * ? *)', 'minute 60'],
      ['cron(0 10 * * ? 2200)', 'a year past 2199'],
      ['at(2026-12-03T10:00:00)', 'a one-time schedule (EventBridge Scheduler only)'],
    ])('refuses %s (%s)', (expression) => {
      expect(() => parseScheduleExpression(expression)).toThrow(UnsupportedScheduleExpression);
    });
  });
});

describe('scheduled rules on the sandbox bus', () => {
  let directory: string | undefined;
  afterEach(() => {
    if (directory) rmSync(directory, { recursive: true, force: true });
    directory = undefined;
  });

  const rule: ScheduleRule = {
    functionKey: 'tick',
    name: 'gantry-sandbox-tick',
    expression: 'rate(5 minutes)',
    schedule: parseScheduleExpression('rate(5 minutes)'),
  };

  it('invokes the target with a Scheduled Event each period on the simulated clock, until stopped', async () => {
    // Prepare
    const clock = new SimClock(at('2026-12-03T10:00:00Z'));
    const received: unknown[] = [];
    const bus = new LocalEventBus([], { tick: async (event) => received.push(event) });
    const stop = bus.startSchedules([rule], clock, { account: '123456789012', region: 'eu-west-1' });

    // Act
    await clock.advance(4 * 60_000);
    const beforeFirstPeriod = received.length;
    await clock.advance(7 * 60_000);
    stop();
    await clock.advance(60 * 60_000);

    // Assess
    expect(beforeFirstPeriod).toBe(0);
    expect(received).toEqual([
      {
        version: '0',
        id: expect.any(String),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '123456789012',
        time: '2026-12-03T10:05:00Z',
        region: 'eu-west-1',
        resources: ['arn:aws:events:eu-west-1:123456789012:rule/gantry-sandbox-tick'],
        detail: {},
      },
      expect.objectContaining({ time: '2026-12-03T10:10:00Z' }),
    ]);
    expect(clock.pending()).toBe(0);
  });

  it("reads serverless.yml's schedule for the reconciler, every 5 minutes by default", () => {
    // Act
    const rules = readScheduleRules();

    // Assess
    expect(rules.map(({ functionKey, expression }) => ({ functionKey, expression }))).toEqual([
      { functionKey: 'reconcile', expression: 'rate(5 minutes)' },
    ]);
  });

  it('fails loudly on a schedule option that would change the event, or a variable it cannot resolve', () => {
    // Prepare
    directory = mkdtempSync(join(tmpdir(), 'gantry-schedule-'));
    const withInput = join(directory, 'input.yml');
    writeFileSync(
      withInput,
      'service: s\nfunctions:\n  f:\n    events:\n      - schedule:\n          rate: rate(1 hour)\n          input: { a: 1 }\n',
    );
    const withOption = join(directory, 'option.yml');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a serverless variable, written as serverless.yml spells it.
    writeFileSync(withOption, 'service: s\nfunctions:\n  f:\n    events:\n      - schedule: ${opt:every}\n');

    // Act, Assess
    expect(() => readScheduleRules(withInput)).toThrow(/schedule option\(s\) input/);
    expect(() => readScheduleRules(withOption)).toThrow(/does not resolve the serverless variable/);
  });
});
