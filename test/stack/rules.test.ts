import { describe, expect, it } from 'vitest';
import { matchesPattern, readEventRules } from '../../sandbox/bus.ts';
import { loadEvent } from '../support/aws-fixtures.ts';

const alarmEvent = loadEvent<{ detail: { state: Record<string, unknown> } }>(
  'cloudwatch-alarm-state-change.json',
);

/** serverless.yml's rules, read as the sandbox bus and EventBridge read them. */
describe('EventBridge rules', () => {
  const rules = readEventRules();
  const targetsOf = (event: unknown, bus = 'default') =>
    rules
      .filter((rule) => rule.bus === bus && matchesPattern(rule.pattern, event))
      .map((rule) => rule.functionKey);

  it('sends an alarm going to ALARM to onRollbackRequested', () => {
    expect(targetsOf(alarmEvent)).toEqual(['onRollbackRequested']);
  });

  it('does not send a composite alarm whose actions are suppressed', () => {
    // Prepare: a composite alarm held by its suppressor (a maintenance window).
    const suppressed = {
      ...alarmEvent,
      detail: {
        ...alarmEvent.detail,
        state: {
          ...alarmEvent.detail.state,
          actionsSuppressedBy: 'Alarm',
          actionsSuppressedReason: 'Alarm web-maintenance-window in ALARM',
        },
      },
    };

    // Act, Assess
    expect(targetsOf(suppressed)).toEqual([]);
  });

  it('listens for Rollback Requested on the Gantry bus only', () => {
    // Prepare
    const requested = loadEvent('rollback-requested.json');

    // Act, Assess
    expect(targetsOf(requested)).toEqual([]);
    expect(targetsOf(requested, 'gantry-sandbox')).toEqual(['onRollbackRequested']);
  });
});
