import {
  ExecutionAlreadyExists,
  SendTaskFailureCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { noteRolloutInFlight } from '../../functions/src/coordination/in-flight.ts';
import { registerRolloutWait } from '../../functions/src/coordination/waits.ts';
import {
  parseRollbackTrigger,
  type RollbackRequestDependencies,
  type RollbackTrigger,
  requestRollbacks,
} from '../../functions/src/rollback-request.ts';
import { isIgnored } from '../../functions/src/tracking.ts';
import { loadEvent, webConfig } from '../support/aws-fixtures.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const alarmEvent = loadEvent<{ detail: { state: Record<string, unknown> } }>(
  'cloudwatch-alarm-state-change.json',
);
const requestedEvent = loadEvent<{ detail: Record<string, unknown> }>('rollback-requested.json');

const sfnMock = mockClient(SFNClient);
let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;

function deps(): RollbackRequestDependencies {
  const sfn = new SFNClient({ region: 'eu-west-1' });
  return {
    sfn,
    ssm: ssm.client,
    configSource: async (prefix) => ssm.configsUnder(prefix),
    parameterPrefix: '/gantry',
    stateMachineArn,
    coordination: { table: table.table, sfn, now: () => new Date('2025-06-03T10:16:00Z') },
  };
}

function started() {
  return sfnMock.commandCalls(StartExecutionCommand).map((call) => ({
    name: call.args[0].input.name,
    input: JSON.parse(call.args[0].input.input ?? '{}') as Record<string, unknown>,
  }));
}

/** The rollback an event asks for; fails the test if the event is ignored. */
function triggerOf(event: unknown): RollbackTrigger {
  const trigger = parseRollbackTrigger(event);
  if (isIgnored(trigger)) throw new Error(`unexpectedly ignored: ${trigger.ignored}`);
  return trigger;
}

/** A live release recorded for a request made at `requestedAt`. */
function liveRelease(requestedAt: string) {
  return {
    kind: 'release',
    image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:${'a'.repeat(64)}`,
    digest: `sha256:${'a'.repeat(64)}`,
    taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web-prod:7',
    at: requestedAt,
    executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:push`,
    requestedAt,
    previous: null,
  };
}

/** A deploy of `app`/`env` in flight, its rollout wait parked under `taskToken`. */
async function deployInFlight(app: string, env: string, taskToken: string) {
  const { coordination } = deps();
  const deploymentId = `ecs-svc/${app}-${env}`;
  await registerRolloutWait(coordination, { taskToken, deploymentId, timeoutSeconds: 900 }, async () => ({
    outcome: 'pending' as const,
  }));
  await noteRolloutInFlight(coordination, { app, env }, { deploymentId, taskToken });
}

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
  ssm.put('/gantry/web/prod/config', webConfig);
  ssm.put('/gantry/web/eu/config', { ...webConfig, rollbackAlarms: ['web-eu-5xx', 'web-prod-5xx'] });
  ssm.put('/gantry/web/staging/config', { ...webConfig, rollbackAlarms: ['web-staging-5xx'] });
  ssm.put('/gantry/api/prod/config', { ...webConfig, repository: 'api', rollbackAlarms: [] });
  ssm.put('/gantry/web/broken/config', '{');
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${stateMachineArn}:x`, startDate: new Date() });
});

afterEach(() => {
  sfnMock.reset();
  ssm.mock.reset();
  table.mock.reset();
});

describe('rollback request', () => {
  describe('a CloudWatch alarm going to ALARM', () => {
    it('starts a rollback for every app/environment listing the alarm', async () => {
      // Act
      const result = await requestRollbacks(deps(), triggerOf(alarmEvent));

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

    it('reports each issue of a broken config, which might be the one listing the alarm', async () => {
      ssm.put('/gantry/web/qa/config', {
        ...webConfig,
        tagPatern: '^v',
        health: { timeoutSeconds: 1 },
      });

      const { invalidConfigs } = await requestRollbacks(deps(), triggerOf(alarmEvent));

      expect(invalidConfigs).toContainEqual(
        expect.stringMatching(/^web\/qa: (?=.*health\.timeoutSeconds: )(?=.*tagPatern)[^;]+; [^;]+$/),
      );
    });

    it.each([
      ['without a state', ({ state: _, ...detail }: Record<string, unknown>) => detail],
      [
        'whose state has no value',
        (detail: Record<string, unknown>) => ({ ...detail, state: { reason: 'Threshold Crossed' } }),
      ],
      ['without an alarm name', ({ alarmName: _, ...detail }: Record<string, unknown>) => detail],
    ])('ignores an alarm event %s, saying why, without throwing', (_, change) => {
      const malformed = { ...alarmEvent, detail: change(alarmEvent.detail) };

      expect(parseRollbackTrigger(malformed)).toEqual({
        ignored: 'not a CloudWatch Alarm State Change or a gantry Rollback Requested event',
      });
    });

    it('names the execution after the event, so a redelivery gets the same name', async () => {
      await requestRollbacks(deps(), triggerOf(alarmEvent));
      await requestRollbacks(deps(), triggerOf(structuredClone(alarmEvent)));

      const names = started().map(({ name }) => name);
      expect(names[0]).toMatch(/^rollback-web-prod-[0-9a-f]{20}$/);
      // The first event scanned the configs, the redelivery reads the index: the order may differ.
      expect(names.slice(2).sort()).toEqual(names.slice(0, 2).sort());
    });

    it('starts nothing when no app/environment lists the alarm', async () => {
      const other = { ...alarmEvent, detail: { ...alarmEvent.detail, alarmName: 'db-cpu' } };

      await expect(requestRollbacks(deps(), triggerOf(other))).resolves.toMatchObject({
        rollbacks: [],
      });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it('ignores an alarm going back to OK, saying why, without throwing', () => {
      const ok = {
        ...alarmEvent,
        detail: { ...alarmEvent.detail, state: { ...alarmEvent.detail.state, value: 'OK' } },
      };

      expect(parseRollbackTrigger(ok)).toEqual({ ignored: 'alarm web-prod-5xx is OK, not ALARM' });
    });

    it.each([
      ['WaitPeriod', 'Actions suppressed by WaitPeriod'],
      ['Alarm', 'Alarm web-maintenance-window in ALARM'],
      ['ExtensionPeriod', 'Actions suppressed by ExtensionPeriod'],
    ])('does not roll back on a composite alarm whose actions are suppressed (%s)', (by, reason) => {
      // Prepare: shaped as CloudWatch's composite alarm with a suppressor (Alarm events and EventBridge).
      const suppressed = {
        ...alarmEvent,
        detail: {
          ...alarmEvent.detail,
          state: { ...alarmEvent.detail.state, actionsSuppressedBy: by, actionsSuppressedReason: reason },
          configuration: {
            alarmRule: 'ALARM(web-prod-5xx-child)',
            actionsSuppressor: 'web-maintenance-window',
            actionsSuppressorWaitPeriod: 120,
            actionsSuppressorExtensionPeriod: 180,
          },
        },
      };

      // Act, Assess
      expect(parseRollbackTrigger(suppressed)).toEqual({
        ignored: `alarm web-prod-5xx's actions are suppressed (${by}: ${reason})`,
      });
    });

    it('tells the deploy in flight to roll back at once, and starts rollbacks for the others', async () => {
      // Prepare: a deploy of web/prod is parked on its rollout; web/eu lists the alarm too.
      sfnMock.on(SendTaskFailureCommand).resolves({});
      await deployInFlight('web', 'prod', 'token-web-prod');

      // Act
      const result = await requestRollbacks(deps(), triggerOf(alarmEvent));

      // Assess
      expect(result.rollbacks).toEqual([
        { app: 'web', env: 'prod', started: false, delivered: true },
        { app: 'web', env: 'eu', started: true },
      ]);
      expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskFailureCommand, {
        taskToken: 'token-web-prod',
        error: 'RollbackRequested',
      });
      expect(started().map(({ input }) => input.env)).toEqual(['eu']);
    });

    it('starts no rollback, and says so, for an alarm older than the live release', async () => {
      // Prepare: the live release was requested after the alarm went to ALARM (10:31:05).
      ssm.put('/gantry/web/prod/release', liveRelease('2025-06-03T10:40:00Z'));
      ssm.put('/gantry/web/eu/release', liveRelease('2025-06-03T10:20:00Z'));

      // Act
      const result = await requestRollbacks(deps(), triggerOf(alarmEvent));

      // Assess
      expect(result.rollbacks).toEqual([
        { app: 'web', env: 'prod', started: false, why: 'ignored: older than the live release' },
        { app: 'web', env: 'eu', started: true },
      ]);
      expect(started().map(({ input }) => input.env)).toEqual(['eu']);
    });

    it('starts the rollback when the live release was requested at the very time of the alarm', async () => {
      // Prepare: AcquireLock supersedes only a request strictly older than the release (lock.ts).
      ssm.put('/gantry/web/prod/release', liveRelease('2025-06-03T10:31:05Z'));

      // Act
      const result = await requestRollbacks(deps(), triggerOf(alarmEvent));

      // Assess
      expect(result.rollbacks).toContainEqual({ app: 'web', env: 'prod', started: true });
    });

    it('starts the rollback when the live release was recorded before releases carried a request time', async () => {
      const { requestedAt: _, ...untimed } = liveRelease('2025-06-03T10:40:00Z');
      ssm.put('/gantry/web/prod/release', untimed);

      const result = await requestRollbacks(deps(), triggerOf(alarmEvent));

      expect(result.rollbacks).toContainEqual({ app: 'web', env: 'prod', started: true });
    });

    it('reads the reason CloudWatch gives, or says it gave none', () => {
      const { reason: _, ...stateWithoutReason } = alarmEvent.detail.state;
      const unexplained = { ...alarmEvent, detail: { ...alarmEvent.detail, state: stateWithoutReason } };

      expect(triggerOf(alarmEvent)).toMatchObject({
        kind: 'alarm',
        eventId: '7cdf996a-262f-42f4-8d4a-671ed781b9b5',
        time: '2025-06-03T10:31:05Z',
        alarmName: 'web-prod-5xx',
        reason: `CloudWatch alarm web-prod-5xx went to ALARM: ${alarmEvent.detail.state.reason}`,
      });
      expect(triggerOf(unexplained).reason).toBe(
        'CloudWatch alarm web-prod-5xx went to ALARM: no reason given',
      );
    });

    it('says no reason was given for suppressed actions when CloudWatch gives none, within 500 characters', () => {
      // Prepare
      const suppressed = (alarmName: string) => ({
        ...alarmEvent,
        detail: {
          ...alarmEvent.detail,
          alarmName,
          state: { ...alarmEvent.detail.state, actionsSuppressedBy: 'Alarm' },
        },
      });

      // Act
      const unexplained = parseRollbackTrigger(suppressed('web-prod-5xx'));
      const longName = parseRollbackTrigger(suppressed('x'.repeat(600)));

      // Assess
      expect(unexplained).toEqual({
        ignored: "alarm web-prod-5xx's actions are suppressed (Alarm: no reason given)",
      });
      expect(isIgnored(longName) && longName.ignored).toHaveLength(500);
    });

    it('caps the reason at the 500 characters the execution input allows', () => {
      const long = {
        ...alarmEvent,
        detail: { ...alarmEvent.detail, state: { ...alarmEvent.detail.state, reason: 'x'.repeat(2000) } },
      };

      expect(triggerOf(long).reason).toHaveLength(500);
    });
  });

  describe('a gantry Rollback Requested event', () => {
    it('tells the deploy in flight to roll back even when its config has since become invalid', async () => {
      // Prepare: the deploy read its config when it began; the config was broken since.
      sfnMock.on(SendTaskFailureCommand).resolves({});
      await deployInFlight('web', 'prod', 'token-web-prod');
      ssm.put('/gantry/web/prod/config', { ...webConfig, tagPatern: '^v' });

      // Act
      const result = await requestRollbacks(deps(), triggerOf(requestedEvent));

      // Assess
      expect(result.rollbacks).toEqual([{ app: 'web', env: 'prod', started: false, delivered: true }]);
      expect(result.invalidConfigs).toEqual([expect.stringMatching(/^web\/prod: .*tagPatern/)]);
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });

    it('says "rollback requested" when the request gives no reason', async () => {
      const { reason: _, ...withoutReason } = requestedEvent.detail;

      expect(triggerOf({ ...requestedEvent, detail: withoutReason })).toEqual({
        kind: 'request',
        eventId: '4caf6a2f-133e-4383-90ca-2629cc3c16bc',
        time: '2025-06-03T10:33:40Z',
        app: 'web',
        env: 'prod',
        reason: 'rollback requested',
      });
    });

    it('starts a rollback of that app/environment', async () => {
      const result = await requestRollbacks(deps(), triggerOf(requestedEvent));

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
    ])('ignores %s, saying why, without throwing', (_, change) => {
      const bad = { ...requestedEvent, detail: { ...requestedEvent.detail, ...change } };

      expect(parseRollbackTrigger(bad)).toEqual({
        ignored: expect.stringMatching(
          /^Rollback Requested needs a detail of app, env and an optional reason \(at most 400 characters\): \S/,
        ),
      });
    });

    it('cuts what zod says is wrong to 300 characters', () => {
      // Prepare: an unknown key whose name alone is longer than the cut.
      const bad = { ...requestedEvent, detail: { ...requestedEvent.detail, ['k'.repeat(400)]: true } };
      const prefix =
        'Rollback Requested needs a detail of app, env and an optional reason (at most 400 characters): ';

      // Act
      const ignored = parseRollbackTrigger(bad);

      // Assess
      expect(ignored).toEqual({ ignored: expect.stringMatching(/^Rollback Requested needs a detail/) });
      expect(isIgnored(ignored) && ignored.ignored).toHaveLength(prefix.length + 300);
    });

    it('says a rollback for the event was already started when Step Functions has its execution', async () => {
      sfnMock
        .on(StartExecutionCommand)
        .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

      const result = await requestRollbacks(deps(), triggerOf(requestedEvent));

      expect(result.rollbacks).toEqual([
        { app: 'web', env: 'prod', started: false, why: 'a rollback for this event was already started' },
      ]);
    });
  });

  it.each([
    ['an ECR push', loadEvent('ecr-image-push.json')],
    ['null', null],
  ])('ignores %s, saying why, without throwing', (_, event) => {
    expect(parseRollbackTrigger(event)).toEqual({
      ignored: 'not a CloudWatch Alarm State Change or a gantry Rollback Requested event',
    });
  });
});
