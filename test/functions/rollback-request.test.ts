import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  parseRollbackTrigger,
  type RollbackRequestDependencies,
  requestRollbacks,
} from '../../functions/src/rollback-request.ts';
import { loadEvent, webConfig } from '../support/aws-fixtures.ts';

const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const alarmEvent = loadEvent<{ detail: { state: Record<string, unknown> } }>(
  'cloudwatch-alarm-state-change.json',
);
const requestedEvent = loadEvent<{ detail: Record<string, unknown> }>('rollback-requested.json');

const sfnMock = mockClient(SFNClient);
let stored: Record<string, string>;

function deps(): RollbackRequestDependencies {
  return {
    sfn: new SFNClient({ region: 'eu-west-1' }),
    configSource: async () => stored,
    parameterPrefix: '/gantry',
    stateMachineArn,
  };
}

function started() {
  return sfnMock.commandCalls(StartExecutionCommand).map((call) => ({
    name: call.args[0].input.name,
    input: JSON.parse(call.args[0].input.input ?? '{}') as Record<string, unknown>,
  }));
}

beforeEach(() => {
  stored = {
    'web/prod/config': JSON.stringify(webConfig),
    'web/eu/config': JSON.stringify({ ...webConfig, rollbackAlarms: ['web-eu-5xx', 'web-prod-5xx'] }),
    'web/staging/config': JSON.stringify({ ...webConfig, rollbackAlarms: ['web-staging-5xx'] }),
    'api/prod/config': JSON.stringify({ ...webConfig, repository: 'api', rollbackAlarms: [] }),
    'web/broken/config': '{',
  };
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${stateMachineArn}:x`, startDate: new Date() });
});

afterEach(() => {
  sfnMock.reset();
});

describe('rollback request', () => {
  describe('a CloudWatch alarm going to ALARM', () => {
    it('starts a rollback for every app/environment listing the alarm', async () => {
      // Act
      const result = await requestRollbacks(deps(), parseRollbackTrigger(alarmEvent));

      // Assess
      expect(result.rollbacks).toEqual([
        { app: 'web', env: 'prod', started: true },
        { app: 'web', env: 'eu', started: true },
      ]);
      // The broken config might have listed the alarm: it is reported, not silently skipped.
      expect(result.invalidConfigs).toEqual([expect.stringMatching(/^web\/broken: /)]);
      expect(started().map(({ input }) => input)).toEqual(
        ['prod', 'eu'].map((env) => ({
          app: 'web',
          env,
          rollback: true,
          reason: expect.stringMatching(/^CloudWatch alarm web-prod-5xx went to ALARM: Threshold Crossed: /),
          source: 'alarm',
          requestedAt: '2025-06-03T10:31:05Z',
        })),
      );
    });

    it('names the execution after the event, so a redelivery gets the same name', async () => {
      await requestRollbacks(deps(), parseRollbackTrigger(alarmEvent));
      await requestRollbacks(deps(), parseRollbackTrigger(structuredClone(alarmEvent)));

      const names = started().map(({ name }) => name);
      expect(names[0]).toMatch(/^rollback-web-prod-[0-9a-f]{20}$/);
      expect(names.slice(2)).toEqual(names.slice(0, 2));
    });

    it('starts nothing when no app/environment lists the alarm', async () => {
      const other = { ...alarmEvent, detail: { ...alarmEvent.detail, alarmName: 'db-cpu' } };

      await expect(requestRollbacks(deps(), parseRollbackTrigger(other))).resolves.toMatchObject({
        rollbacks: [],
      });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it('rejects an alarm going back to OK with InputInvalid', () => {
      const ok = {
        ...alarmEvent,
        detail: { ...alarmEvent.detail, state: { ...alarmEvent.detail.state, value: 'OK' } },
      };

      expect(() => parseRollbackTrigger(ok)).toThrow(
        expect.objectContaining({ name: 'InputInvalid', message: 'alarm web-prod-5xx is OK, not ALARM' }),
      );
    });

    it('caps the reason at the 500 characters the execution input allows', () => {
      const long = {
        ...alarmEvent,
        detail: { ...alarmEvent.detail, state: { ...alarmEvent.detail.state, reason: 'x'.repeat(2000) } },
      };

      expect(parseRollbackTrigger(long).reason).toHaveLength(500);
    });
  });

  describe('a gantry Rollback Requested event', () => {
    it('starts a rollback of that app/environment', async () => {
      const result = await requestRollbacks(deps(), parseRollbackTrigger(requestedEvent));

      expect(result).toEqual({ rollbacks: [{ app: 'web', env: 'prod', started: true }], invalidConfigs: [] });
      expect(started()).toEqual([
        {
          name: expect.stringMatching(/^rollback-web-prod-[0-9a-f]{20}$/),
          input: {
            app: 'web',
            env: 'prod',
            rollback: true,
            reason: 'manual rollback after bad release',
            source: 'rollback-requested',
            requestedAt: '2025-06-03T10:33:40Z',
          },
        },
      ]);
    });

    it.each([
      ['an unknown detail key', { extra: true }],
      ['an app name that is not a parameter path segment', { app: '../web' }],
    ])('rejects %s with InputInvalid', (_, change) => {
      const bad = { ...requestedEvent, detail: { ...requestedEvent.detail, ...change } };

      expect(() => parseRollbackTrigger(bad)).toThrow(expect.objectContaining({ name: 'InputInvalid' }));
    });
  });

  it('rejects any other event with InputInvalid', () => {
    expect(() => parseRollbackTrigger(loadEvent('ecr-image-push.json'))).toThrow(
      expect.objectContaining({ name: 'InputInvalid' }),
    );
  });
});
