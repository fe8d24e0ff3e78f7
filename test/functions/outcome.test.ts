import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { LabelParameterVersionCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployState } from '../../functions/src/deploy-state.ts';
import { type OutcomeDependencies, recordOutcome } from '../../functions/src/outcome.ts';
import { type ReleaseRecord, releaseHistory } from '../../functions/src/release.ts';
import { story } from '../support/aws-fixtures.ts';
import {
  deployment,
  desired,
  lambdaFailure,
  live,
  older,
  planOf,
  rolloutFailure,
} from '../support/deploy-states.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const releaseName = '/gantry/web/prod/release';
const now = new Date('2025-06-03T10:19:31.000Z');
const eventsMock = mockClient(EventBridgeClient);
let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: OutcomeDependencies;
const history = () => releaseHistory(table.table, 'web', 'prod', { limit: 100 });

/** The detail of the last outcome event (the Release Status Changed event that follows it aside). */
function putEventDetail(): Record<string, unknown> {
  const entry = eventsMock
    .commandCalls(PutEventsCommand)
    .map((call) => call.args[0].input.Entries?.[0])
    .filter((candidate) => candidate?.DetailType !== 'Release Status Changed')
    .at(-1);
  return JSON.parse(entry?.Detail ?? 'null') as Record<string, unknown>;
}

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
  deps = {
    ssm: ssm.client,
    table: table.table,
    events: new EventBridgeClient({ region: story.region }),
    parameterPrefix: '/gantry',
    eventBusName: 'default',
    now: () => now,
  };
  eventsMock
    .on(PutEventsCommand)
    .resolves({ FailedEntryCount: 0, Entries: [{ EventId: '11710aed-b79e-4468-a20b-bb3c0c3b4860' }] });
});

afterEach(() => {
  ssm.mock.reset();
  table.mock.reset();
  eventsMock.reset();
});

describe('outcome', () => {
  describe('recordOutcome', () => {
    describe('release', () => {
      it('appends the new release to the history, writes it live with the old live one as previous, and announces it', async () => {
        // Prepare
        ssm.put(releaseName, {
          kind: 'release',
          ...live,
          at: '2025-05-28T09:17:00.000Z',
          executionArn: 'arn:old',
          previous: older,
        });
        const state: DeployState = { plan: planOf(), deployment };

        // Act
        const result = await recordOutcome(deps, 'release', state);

        // Assess
        expect(result).toEqual({ kind: 'release', version: 2, event: 'Release Succeeded' });
        const record = {
          kind: 'release',
          ...desired,
          revision: story.taskDefinitionArn,
          at: now.toISOString(),
          executionArn: story.executionArn,
          previous: live,
        };
        expect(ssm.json(releaseName)).toMatchObject(record);
        expect(await history()).toEqual([expect.objectContaining(record)]);
        // Parameter Store keeps 100 versions and refuses a write once the oldest is labelled: no labels.
        expect(ssm.parameters.get(releaseName)).toMatchObject({ version: 2, labels: [], type: 'String' });
        expect(ssm.mock).not.toHaveReceivedCommand(LabelParameterVersionCommand);
        // The outcome, then the status it leaves (test/cli/status-event.test.ts holds it to gantry
        // status), in one PutEvents call.
        const entry = (detailType: string) => ({
          Source: 'gantry',
          DetailType: detailType,
          EventBusName: 'default',
          Resources: [story.executionArn],
          Detail: expect.any(String),
        });
        expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
        expect(eventsMock).toHaveReceivedCommandWith(PutEventsCommand, {
          Entries: [entry('Release Succeeded'), entry('Release Status Changed')],
        });
        expect(putEventDetail()).toMatchObject({
          app: 'web',
          env: 'prod',
          executionArn: story.executionArn,
          source: 'ecr-push',
          requested: desired,
          record,
        });
      });

      it('does not append the record twice when the step is retried', async () => {
        const state: DeployState = { plan: planOf(), deployment };
        await recordOutcome(deps, 'release', state);

        await recordOutcome(deps, 'release', state);

        expect(await history()).toHaveLength(1);
      });

      it('announces the status it leaves: the new release live, and the request waiting for the lock', async () => {
        // Prepare: a newer push waits for the lock this execution still holds.
        const waiting = 'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:push-web-prod-2';
        table.put({
          pk: { S: 'app#web#prod' },
          sk: { S: 'waiter' },
          executionArn: { S: waiting },
          image: { S: older.image },
          requestedAtText: { S: '2025-06-03T10:20:00Z' },
          taskToken: { S: 'token-waiting' },
        });

        // Act
        await recordOutcome(deps, 'release', { plan: planOf(), deployment });

        // Assess
        const entries = eventsMock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
        const status = JSON.parse(entries[1]?.Detail ?? 'null') as Record<string, unknown>;
        expect(status).toMatchObject({
          app: 'web',
          env: 'prod',
          live: { digest: desired.digest, byExecution: story.executionArn },
          lock: null,
          waiting: { executionArn: waiting, image: older.image },
        });
        expect(JSON.stringify(status)).not.toContain('token-waiting');
      });

      it("keeps every record of a long history, past Parameter Store's 100 versions", async () => {
        // Prepare: 120 releases by 120 executions.
        for (let index = 0; index < 120; index++) {
          const plan = planOf({ executionArn: `${story.executionArn}-${index}` });
          deps.now = () => new Date(now.getTime() + index * 1000);
          await recordOutcome(deps, 'release', { plan, deployment });
        }

        // Act
        const records = await history();

        // Assess: newest first, none lost.
        expect(records).toHaveLength(100);
        expect(records[0]?.executionArn).toBe(`${story.executionArn}-119`);
        expect(await releaseHistory(table.table, 'web', 'prod', { limit: 500 })).toHaveLength(120);
      });

      it('records a requested rollback as kind rollback that forgets the release it left', async () => {
        const plan = planOf({
          mode: 'rollback',
          desired: live,
          live: { ...desired, revision: story.taskDefinitionArn },
          reason: 'bad release',
        });

        const result = await recordOutcome(deps, 'release', {
          plan,
          deployment: { ...deployment, revision: live.revision },
        });

        expect(result.event).toBe('Rollback Succeeded');
        expect(ssm.json(releaseName)).toMatchObject({
          kind: 'rollback',
          ...live,
          previous: null,
          reason: 'bad release',
          rolledBackFrom: { digest: story.digest, revision: story.taskDefinitionArn },
        });
      });

      it('records a drift restore as the same release put back, keeping the release before it', async () => {
        // Prepare: the reconciler's restore of the live release (a plan with mode restore).
        const plan = planOf({ mode: 'restore', desired: live, live, livePrevious: older, reason: 'drift' });

        // Act
        const result = await recordOutcome(deps, 'release', {
          plan,
          deployment: { ...deployment, revision: live.revision },
        });

        // Assess: announced as a restore, recorded as a release whose previous is still the older one.
        expect(result.event).toBe('Drift Restored');
        expect(ssm.json(releaseName)).toMatchObject({
          kind: 'release',
          ...live,
          previous: older,
          reason: 'drift',
        });
        expect(ssm.json(releaseName)).not.toHaveProperty('rolledBackFrom');
      });

      it('records exactly what went live, for which request, and nothing it was not given', async () => {
        // Act
        await recordOutcome(deps, 'release', { plan: planOf(), deployment });

        // Assess
        expect(await history()).toStrictEqual([
          {
            kind: 'release',
            ...desired,
            revision: story.taskDefinitionArn,
            at: now.toISOString(),
            executionArn: story.executionArn,
            requestedAt: '2025-06-03T10:15:01Z',
            previous: live,
          },
        ]);
      });

      it.each([
        ['the revision the deploy step registered', { deployment }, story.taskDefinitionArn],
        ['the revision the plan named, when no deploy step ran', { deployment: undefined }, live.revision],
      ])('records %s', async (_what, { deployment: ran }, revision) => {
        const plan = planOf({ mode: 'rollback', desired: live, reason: 'bad release' });

        await recordOutcome(deps, 'release', { plan, ...(ran && { deployment: ran }) });

        expect(ssm.json(releaseName)).toMatchObject({ revision });
      });

      it('records the revision as unknown when neither the deploy step nor the plan named one', async () => {
        await recordOutcome(deps, 'release', { plan: planOf() });

        expect(ssm.json(releaseName)).toMatchObject({ ...desired, revision: 'unknown' });
      });

      it('records a requested rollback from nothing live without a release it rolled back from', async () => {
        const plan = planOf({ mode: 'rollback', desired: live, live: null, reason: 'bad release' });

        await recordOutcome(deps, 'release', { plan, deployment });

        expect(ssm.json(releaseName)).not.toHaveProperty('rolledBackFrom');
      });
    });

    describe('rollback', () => {
      it('records the live release back with the cause parsed from a Lambda-wrapped Gantry error', async () => {
        // Prepare
        const state: DeployState = { plan: planOf(), deployment, failure: lambdaFailure() };

        // Act
        const result = await recordOutcome(deps, 'rollback', state);

        // Assess
        expect(result).toEqual({ kind: 'rollback', version: 1, event: 'Release Rolled Back' });
        expect(ssm.json(releaseName)).toMatchObject({
          kind: 'rollback',
          ...live,
          executionArn: story.executionArn,
          previous: older,
          cause: {
            error: 'RolloutFailed',
            message: 'ECS reported the rollout FAILED: ECS deployment circuit breaker: task failed to start.',
            details: {
              deploymentId: story.deploymentId,
              stoppedTasks: 2,
              stopReasons: ['EssentialContainerExited: Essential container in task exited'],
            },
          },
          rolledBackFrom: { ...desired, revision: story.taskDefinitionArn },
        });
        expect(await history()).toEqual([expect.objectContaining({ kind: 'rollback' })]);
      });

      it('records the cause of a SendTaskFailure failure, noting ECS rolled back', async () => {
        const state: DeployState = { plan: planOf(), deployment, failure: rolloutFailure(true) };

        await recordOutcome(deps, 'rollback', state);

        expect(ssm.json(releaseName)).toMatchObject({
          cause: {
            error: 'RolloutFailed',
            details: { ecsRolledBack: true, deploymentId: story.deploymentId },
          },
        });
      });

      it('puts the full forensics in the event', async () => {
        const state: DeployState = { plan: planOf(), deployment, failure: rolloutFailure(true) };

        await recordOutcome(deps, 'rollback', state);

        expect(putEventDetail()).toMatchObject({
          failure: {
            details: {
              stoppedTasks: [{ stopCode: 'EssentialContainerExited', containers: [{ exitCode: 1 }] }, {}],
            },
          },
        });
      });

      describe("the cause kept in the record, a summary that fits the live release's 4 KB", () => {
        const recordedCause = async (failure: DeployState['failure']) => {
          await recordOutcome(deps, 'rollback', { plan: planOf(), deployment, ...(failure && { failure }) });
          return (ssm.json(releaseName) as { cause: unknown }).cause;
        };
        const stopped = (stopCode: string | undefined, stoppedReason: string | undefined) => ({
          taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0',
          ...(stopCode && { stopCode }),
          ...(stoppedReason && { stoppedReason }),
          containers: [],
        });

        it('counts the stopped tasks and keeps three distinct stop reasons of at most 200 characters', async () => {
          // Prepare
          const cause = JSON.stringify({
            message: '6 task(s) of the new deployment stopped (limit 2)',
            stoppedTasks: [
              stopped('EssentialContainerExited', 'Essential container in task exited'),
              stopped('EssentialContainerExited', 'Essential container in task exited'),
              stopped(undefined, undefined),
              stopped('TaskFailedToStart', `CannotPullContainerError: ${'x'.repeat(300)}`),
              stopped('ServiceSchedulerInitiated', 'Task failed container health checks'),
              stopped('UserInitiated', 'stopped by hand'),
            ],
          });

          // Act / Assess
          expect(await recordedCause({ Error: 'RolloutFailed', Cause: cause })).toEqual({
            error: 'RolloutFailed',
            message: '6 task(s) of the new deployment stopped (limit 2)',
            details: {
              stoppedTasks: 6,
              stopReasons: [
                'EssentialContainerExited: Essential container in task exited',
                '?: ',
                `TaskFailedToStart: CannotPullContainerError: ${'x'.repeat(300)}`.slice(0, 200),
              ],
            },
          });
        });

        it("keeps the containers' distinct exit codes, lowest first, at most five", async () => {
          // Prepare: codes repeated across tasks, a container with none, a task with no containers.
          const withCodes = (...exitCodes: (number | undefined)[]) => ({
            ...stopped('EssentialContainerExited', 'Essential container in task exited'),
            containers: exitCodes.map((exitCode) => (exitCode === undefined ? {} : { exitCode })),
          });
          const cause = JSON.stringify({
            message: '4 task(s) of the new deployment stopped (limit 2)',
            stoppedTasks: [
              withCodes(137, 1),
              withCodes(1, undefined),
              { taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/prod/9' },
              withCodes(9, 3, 2, 139),
            ],
          });

          // Act
          const recorded = (await recordedCause({ Error: 'RolloutFailed', Cause: cause })) as {
            details: { exitCodes?: number[]; stoppedTasks: number };
          };

          // Assess
          expect(recorded.details.stoppedTasks).toBe(4);
          expect(recorded.details.exitCodes).toEqual([1, 2, 3, 9, 137]);
        });

        it('keeps no exit codes when no stopped container reports one', async () => {
          // A task with no containers listed, and one whose container never ran (no exit code).
          const cause = JSON.stringify({
            message: 'stopped',
            stoppedTasks: [
              stopped('TaskFailedToStart', 'pull'),
              { ...stopped('TaskFailedToStart', 'pull'), containers: [{ name: 'app' }] },
            ],
          });

          const recorded = (await recordedCause({ Error: 'RolloutFailed', Cause: cause })) as {
            details: Record<string, unknown>;
          };

          expect(recorded.details).not.toHaveProperty('exitCodes');
        });

        it('keeps a plain-text cause as the message, cut at 1 000 characters, without details', async () => {
          const cause = `${'m'.repeat(1000)}and more`;

          expect(await recordedCause({ Error: 'DeployFailed', Cause: cause })).toEqual({
            error: 'DeployFailed',
            message: 'm'.repeat(1000),
          });
        });

        it('keeps no deployment id that is not text and no ECS rollback that did not happen', async () => {
          const cause = JSON.stringify({
            message: 'too slow',
            deploymentId: 7,
            ecsRolledBack: false,
            stoppedTasks: [],
          });

          expect(await recordedCause({ Error: 'RolloutTimedOut', Cause: cause })).toEqual({
            error: 'RolloutTimedOut',
            message: 'too slow',
          });
        });

        it('says the cause is unknown when the state carries no failure', async () => {
          expect(await recordedCause(undefined)).toEqual({ error: 'unknown', message: 'unknown error' });
        });
      });

      it('records what it rolled back from without a revision when the deploy registered none', async () => {
        // Prepare: the deploy failed before it registered a revision.
        const state: DeployState = { plan: planOf(), failure: rolloutFailure(false) };

        // Act
        await recordOutcome(deps, 'rollback', state);

        // Assess
        expect((ssm.json(releaseName) as ReleaseRecord).rolledBackFrom).toStrictEqual(desired);
      });

      it('cuts the rollout failure a failed rollback carries to its first 500 characters', async () => {
        const state: DeployState = {
          plan: planOf(),
          deployment,
          failure: { Error: 'RolloutFailed', Cause: `${'r'.repeat(500)}and more` },
          rollbackFailure: { Error: 'DeployFailed', Cause: 'ECS service prod/web is not usable: INACTIVE' },
        };

        await recordOutcome(deps, 'rollback-failed', state);

        expect(ssm.json(releaseName)).toMatchObject({
          cause: { details: { rolloutFailure: { error: 'RolloutFailed', message: 'r'.repeat(500) } } },
        });
        expect(putEventDetail()).toMatchObject({
          failure: { message: `${'r'.repeat(500)}and more` },
          rollbackFailure: { message: 'ECS service prod/web is not usable: INACTIVE' },
        });
      });

      it('records a failed rollback in the history and as the live record', async () => {
        const state: DeployState = {
          plan: planOf(),
          deployment,
          failure: rolloutFailure(false),
          rollbackFailure: { Error: 'DeployFailed', Cause: 'ECS service prod/web is not usable: INACTIVE' },
        };

        const result = await recordOutcome(deps, 'rollback-failed', state);

        expect(result.event).toBe('Rollback Failed');
        expect(ssm.json(releaseName)).toMatchObject({
          kind: 'rollback-failed',
          cause: {
            error: 'DeployFailed',
            message: 'ECS service prod/web is not usable: INACTIVE',
            details: { rolloutFailure: { error: 'RolloutFailed' } },
          },
        });
        expect(await history()).toEqual([expect.objectContaining({ kind: 'rollback-failed' })]);
      });
    });

    describe('superseded', () => {
      it('writes no parameter and announces who superseded the request', async () => {
        const newer = 'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:push-web-prod-2';
        const state: DeployState = { plan: planOf(), lock: { status: 'superseded', by: newer } };

        const result = await recordOutcome(deps, 'superseded', state);

        expect(result).toStrictEqual({ kind: 'superseded', event: 'Request Superseded' });
        expect(ssm.mock).not.toHaveReceivedCommand(PutParameterCommand);
        expect(ssm.parameters.size).toBe(0);
        expect(table.items()).toEqual([]);
        expect(eventsMock).toHaveReceivedCommandWith(PutEventsCommand, {
          Entries: [expect.objectContaining({ DetailType: 'Request Superseded', Source: 'gantry' })],
        });
        expect(putEventDetail()).toMatchObject({ supersededBy: newer });
        expect(putEventDetail()).not.toHaveProperty('record');
      });
      it('names no one as superseding when the lock said nothing of it', async () => {
        await recordOutcome(deps, 'superseded', { plan: planOf() });

        expect(putEventDetail()).not.toHaveProperty('supersededBy');
        expect(putEventDetail()).not.toHaveProperty('failure');
        expect(putEventDetail()).not.toHaveProperty('rollbackFailure');
      });
    });

    describe('when EventBridge refuses an entry', () => {
      const refused = { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service error' };
      const accepted = { EventId: '11710aed-b79e-4468-a20b-bb3c0c3b4860' };
      const sentTypes = () =>
        eventsMock
          .commandCalls(PutEventsCommand)
          .map(({ args: [{ input }] }) => input.Entries?.map((entry) => entry.DetailType));

      it('puts only the refused entry again, so the accepted one is not announced twice', async () => {
        // Prepare: the status event is refused once; the outcome event went through.
        eventsMock
          .on(PutEventsCommand)
          .resolvesOnce({ FailedEntryCount: 1, Entries: [accepted, refused] })
          .resolves({ FailedEntryCount: 0, Entries: [accepted] });

        // Act
        await recordOutcome(deps, 'release', { plan: planOf(), deployment });

        // Assess
        expect(sentTypes()).toEqual([
          ['Release Succeeded', 'Release Status Changed'],
          ['Release Status Changed'],
        ]);
      });

      it('throws TransientAwsError naming the event after three refusals, so the step is retried', async () => {
        // Prepare
        eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [refused] });

        // Act / Assess
        await expect(recordOutcome(deps, 'release', { plan: planOf(), deployment })).rejects.toMatchObject({
          name: 'TransientAwsError',
          message:
            'EventBridge refused 1 event(s): Release Succeeded: InternalFailure Internal service error',
        });
        expect(sentTypes()).toEqual([
          ['Release Succeeded', 'Release Status Changed'],
          ['Release Succeeded'],
          ['Release Succeeded'],
        ]);
      });
    });
  });
});
