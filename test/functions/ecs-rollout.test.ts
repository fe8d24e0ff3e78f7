import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type Deployment,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import {
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitPartition, waitSortKey } from '../../functions/src/coordination/table.ts';
import { failureCause, registerRolloutWait, settleRollout } from '../../functions/src/coordination/waits.ts';
import { handleEcsEvent } from '../../functions/src/ecs/events.ts';
import {
  evaluateRollout,
  isFailedTask,
  type RolloutDependencies,
  type RolloutWait,
  type StoppedTask,
  toStoppedTask,
} from '../../functions/src/ecs/rollout.ts';
import { matchesPattern, readEventRules } from '../../sandbox/bus.ts';
import {
  crashed,
  describeServicesResponse,
  describeTasksResponse,
  loadEvent,
  serviceOf,
  serviceRollingOut,
  stoppedTask,
  story,
} from '../support/aws-fixtures.ts';
import { fakeCoordinationTable, tableName } from '../support/table-fake.ts';

const taskToken =
  'AQCEAAAAKgAAAAMAAAAAAAAAAZ1v7Jd2k3TrYI8vQvL0pTokenOnlyForTests0Rjb2sZ1pQx9mN3bV5cX7zL2kJ4hG6fD8sA0qW1eR3tY5uI7oP9';
const wait: RolloutWait = {
  taskToken,
  cluster: story.cluster,
  service: story.service,
  deploymentId: story.deploymentId,
  maxFailedTasks: 2,
  timeoutSeconds: 900,
};

const completedEvent = loadEvent('ecs-deployment-completed.json');
const failedEvent = loadEvent('ecs-deployment-failed.json');
const inProgressEvent = loadEvent('ecs-deployment-in-progress.json');
const taskStoppedEvent = loadEvent<{ detail: Record<string, unknown> }>('ecs-task-stopped.json');

/**
 * Stops that say the new version is broken, as ECS words them (stop code, stopped reason): the
 * serverless.yml rule delivers them and isFailedTask counts them.
 */
const failureStops: [string, string, string][] = [
  ['an essential container exited', 'EssentialContainerExited', 'Essential container in task exited'],
  ['the task failed to start', 'TaskFailedToStart', 'CannotPullContainerError: pull image manifest'],
  [
    'ELB health checks failed',
    'ServiceSchedulerInitiated',
    'Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123)',
  ],
  ['container health checks failed', 'ServiceSchedulerInitiated', 'Task failed container health checks'],
];

/** Stops that say nothing about the new version: neither delivered nor counted. */
const otherStops: [string, string, string][] = [
  [
    'a scale-in or a newer deployment',
    'ServiceSchedulerInitiated',
    'Scaling activity initiated by (deployment ecs-svc/1)',
  ],
  ['a person', 'UserInitiated', 'Task stopped by user'],
  ['a Spot interruption', 'SpotInterruption', 'Your Spot Task was interrupted.'],
];

/** A task of the new deployment drained by a scale-in or a later deployment: not a failure. */
const drained = {
  stopCode: 'ServiceSchedulerInitiated',
  stoppedReason: `Scaling activity initiated by (deployment ${story.deploymentId})`,
} as const;

const ecsMock = mockClient(ECSClient);
const sfnMock = mockClient(SFNClient);
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: RolloutDependencies;

beforeEach(() => {
  table = fakeCoordinationTable();
  deps = {
    table: table.table,
    ecs: new ECSClient({ region: story.region }),
    sfn: new SFNClient({ region: story.region }),
    now: () => new Date('2025-06-03T10:16:00Z'),
  };
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
});

afterEach(() => {
  table.mock.reset();
  ecsMock.reset();
  sfnMock.reset();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

function parked(overrides: Partial<RolloutWait> = {}) {
  const { taskToken: token, ...details } = { ...wait, ...overrides };
  table.put({
    pk: { S: waitPartition(story.deploymentId) },
    sk: { S: waitSortKey },
    taskToken: { S: token },
    wait: { S: JSON.stringify(details) },
  });
}

/** The wait parked in the coordination table, as the token and its details. */
function parkedWait(): RolloutWait | undefined {
  const item = table.item(waitPartition(story.deploymentId), waitSortKey);
  if (!item) return undefined;
  const token = item.taskToken as { S: string };
  return {
    ...(JSON.parse((item.wait as { S: string }).S) as Omit<RolloutWait, 'taskToken'>),
    taskToken: token.S,
  };
}

const register = (rollout: RolloutWait) =>
  registerRolloutWait(deps, rollout, (parkedRollout) =>
    evaluateRollout(deps.ecs, parkedRollout, { deadlinePassed: false }),
  );

function rollingOut(
  state: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED',
  breaker = { enable: true, rollback: true },
) {
  ecsMock.on(DescribeServicesCommand).resolves(
    describeServicesResponse(
      serviceRollingOut(state, {
        deploymentConfiguration: {
          deploymentCircuitBreaker: breaker,
          maximumPercent: 200,
          minimumHealthyPercent: 100,
        },
      }),
    ),
  );
}

function stopped(...tasks: ReturnType<typeof stoppedTask>[]) {
  ecsMock.on(ListTasksCommand).resolves({ taskArns: tasks.map((task) => task.taskArn ?? '') });
  ecsMock.on(DescribeTasksCommand).resolves(describeTasksResponse(tasks));
}

function sentCause(): Record<string, unknown> {
  const cause = sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input.cause;
  return JSON.parse(cause ?? 'null') as Record<string, unknown>;
}

describe('ecs rollout', () => {
  describe('registerRolloutWait', () => {
    it('parks the task token in the coordination table keyed by the deployment and keeps waiting', async () => {
      // Prepare
      rollingOut('IN_PROGRESS');

      // Act
      const verdict = await register(wait);

      // Assess
      expect(verdict).toEqual({ outcome: 'pending' });
      expect(table.mock).toHaveReceivedCommandWith(PutItemCommand, {
        TableName: tableName,
        Item: expect.objectContaining({ pk: { S: waitPartition(story.deploymentId) } }),
      });
      expect(parkedWait()).toEqual(wait);
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it('settles at once when the deployment already COMPLETED', async () => {
      rollingOut('COMPLETED');

      const verdict = await register(wait);

      expect(verdict).toEqual({ outcome: 'completed', deploymentId: story.deploymentId });
      expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskSuccessCommand, {
        taskToken,
        output: JSON.stringify({ rolloutState: 'COMPLETED', deploymentId: story.deploymentId }),
      });
      expect(parkedWait()).toBeUndefined();
    });

    it('fails at once when the deployment already FAILED, noting ECS rolled it back', async () => {
      rollingOut('FAILED');
      stopped(stoppedTask(1, crashed));

      const verdict = await register(wait);

      expect(verdict).toMatchObject({ outcome: 'failed', error: 'RolloutFailed', ecsRolledBack: true });
      expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskFailureCommand, {
        taskToken,
        error: 'RolloutFailed',
      });
    });
  });

  describe('evaluateRollout', () => {
    const [waited, older] = serviceRollingOut('IN_PROGRESS').deployments ?? [];
    /** The service with exactly these deployments, in this order; the breaker on and rolling back. */
    function deployments(...listed: Deployment[]) {
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(describeServicesResponse(serviceOf({ deployments: listed })));
    }
    const judge = (deadlinePassed = false) => evaluateRollout(deps.ecs, wait, { deadlinePassed });

    describe('the deployment it waits for', () => {
      it('keeps waiting while its deployment rolls out, even when an older deployment listed first COMPLETED', async () => {
        // Prepare: ECS does not promise an order; the previous deployment COMPLETED long ago.
        deployments({ ...older, status: 'ACTIVE' }, { ...waited, status: 'PRIMARY' });

        // Act
        const verdict = await judge();

        // Assess
        expect(verdict).toEqual({ outcome: 'pending' });
      });

      it('fails with RolloutFailed when its deployment is no longer on the service, even if a newer one COMPLETED', async () => {
        // Prepare: someone else deployed over it, and that deployment completed.
        deployments({ ...waited, id: 'ecs-svc/5555555555555555555', rolloutState: 'COMPLETED' });

        // Act
        const verdict = await judge();

        // Assess
        expect(verdict).toEqual({
          outcome: 'failed',
          error: 'RolloutFailed',
          message: `deployment ${story.deploymentId} is no longer on the service`,
          deploymentId: story.deploymentId,
          ecsRolledBack: false,
          stoppedTasks: [],
        });
      });

      it.each([
        ['the service is not found', { failures: [{ arn: story.serviceArn, reason: 'MISSING' }] }],
        ['the service lists no deployment', { services: [serviceOf({ deployments: undefined })] }],
      ])('fails with RolloutFailed, as gone, when %s', async (_, described) => {
        ecsMock.on(DescribeServicesCommand).resolves({ $metadata: {}, ...described });

        await expect(judge()).resolves.toMatchObject({
          outcome: 'failed',
          error: 'RolloutFailed',
          message: `deployment ${story.deploymentId} is no longer on the service`,
          ecsRolledBack: false,
        });
      });

      it('reads the service of the wait, in its cluster', async () => {
        rollingOut('IN_PROGRESS');

        await judge();

        expect(ecsMock).toHaveReceivedCommandWith(DescribeServicesCommand, {
          cluster: story.cluster,
          services: [story.service],
        });
        expect(ecsMock).toHaveReceivedCommandWith(ListTasksCommand, {
          cluster: story.cluster,
          startedBy: story.deploymentId,
          desiredStatus: 'STOPPED',
        });
      });

      const throttled = () =>
        Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        });
      it.each([
        [
          'DescribeServices',
          'describing the service rollout',
          () => ecsMock.on(DescribeServicesCommand).rejects(throttled()),
        ],
        ['ListTasks', 'listing stopped tasks', () => ecsMock.on(ListTasksCommand).rejects(throttled())],
        [
          'DescribeTasks',
          'describing stopped tasks',
          () => ecsMock.on(DescribeTasksCommand).rejects(throttled()),
        ],
      ])(
        'turns a throttled %s into TransientAwsError saying what it was doing',
        async (_, doing, throttle) => {
          // Prepare
          rollingOut('IN_PROGRESS');
          stopped(stoppedTask(1, crashed));
          throttle();

          // Act / Assess
          await expect(judge()).rejects.toMatchObject({
            name: 'TransientAwsError',
            message: `${doing}: ThrottlingException: Rate exceeded`,
          });
        },
      );
    });

    describe('after the deadline', () => {
      it('times out with RolloutTimedOut, naming the rollout state and how many tasks run', async () => {
        // Prepare: one task crashed (below the limit of 2), one was drained by a scale-in.
        rollingOut('IN_PROGRESS');
        stopped(stoppedTask(1, crashed), stoppedTask(2, drained));

        // Act
        const verdict = await judge(true);

        // Assess: only the stop that can count is kept as forensics.
        expect(verdict).toEqual({
          outcome: 'failed',
          error: 'RolloutTimedOut',
          message: 'the rollout did not complete in time (rolloutState IN_PROGRESS, 1/2 running)',
          deploymentId: story.deploymentId,
          ecsRolledBack: false,
          stoppedTasks: [expect.objectContaining({ taskArn: stoppedTask(1, crashed).taskArn })],
        });
      });

      it('says the rollout state is unknown where ECS reports none (a Classic Load Balancer service)', async () => {
        // Prepare: "The rolloutState of a service is only returned for services that use the rolling
        // update (ECS) deployment type that aren't behind a Classic Load Balancer" (ECS API model,
        // Deployment.rolloutState in @aws-sdk/client-ecs).
        const { rolloutState: _, rolloutStateReason: __, ...withoutState } = waited ?? {};
        deployments(withoutState, { ...older, status: 'ACTIVE' });

        // Act
        const verdict = await judge(true);

        // Assess
        expect(verdict).toMatchObject({
          error: 'RolloutTimedOut',
          message: 'the rollout did not complete in time (rolloutState unknown, 1/2 running)',
        });
      });

      it('completes when the deployment COMPLETED just as the deadline passed', async () => {
        rollingOut('COMPLETED');

        await expect(judge(true)).resolves.toEqual({
          outcome: 'completed',
          deploymentId: story.deploymentId,
        });
      });
    });

    describe('a deployment ECS reports FAILED', () => {
      it.each([
        ['rolled back by ECS when the circuit breaker rolls back', { enable: true, rollback: true }, true],
        ['not rolled back by ECS when the breaker only fails it', { enable: true, rollback: false }, false],
        ['not rolled back by ECS when the breaker is off', { enable: false, rollback: true }, false],
        ['not rolled back by ECS when the service reports no breaker', undefined, false],
      ])('fails with RolloutFailed, %s', async (_, breaker, ecsRolledBack) => {
        ecsMock.on(DescribeServicesCommand).resolves(
          describeServicesResponse(
            serviceRollingOut('FAILED', {
              deploymentConfiguration: {
                ...(breaker && { deploymentCircuitBreaker: breaker }),
                maximumPercent: 200,
                minimumHealthyPercent: 100,
              },
            }),
          ),
        );

        await expect(judge()).resolves.toMatchObject({
          outcome: 'failed',
          error: 'RolloutFailed',
          message: 'ECS reported the rollout FAILED: ECS deployment circuit breaker: task failed to start.',
          ecsRolledBack,
        });
      });

      it('does not claim ECS rolled back when the service reports no deployment configuration', async () => {
        ecsMock
          .on(DescribeServicesCommand)
          .resolves(
            describeServicesResponse(serviceRollingOut('FAILED', { deploymentConfiguration: undefined })),
          );

        await expect(judge()).resolves.toMatchObject({ error: 'RolloutFailed', ecsRolledBack: false });
      });

      it('lists every stopped task of the FAILED deployment as forensics, whatever stopped it', async () => {
        // Prepare
        rollingOut('FAILED');
        stopped(stoppedTask(1, crashed), stoppedTask(2, drained));

        // Act
        const verdict = await judge();

        // Assess
        expect(verdict).toMatchObject({
          stoppedTasks: [
            expect.objectContaining({ taskArn: stoppedTask(1, crashed).taskArn }),
            expect.objectContaining({
              taskArn: stoppedTask(2, drained).taskArn,
              stopCode: 'ServiceSchedulerInitiated',
            }),
          ],
        });
      });

      it('lists no stopped task when ListTasks lists none', async () => {
        rollingOut('FAILED');

        await expect(judge()).resolves.toMatchObject({ outcome: 'failed', stoppedTasks: [] });
      });

      it('says no reason was given when ECS gives none', async () => {
        const { rolloutStateReason: _, ...withoutReason } =
          serviceRollingOut('FAILED').deployments?.[0] ?? {};
        deployments(withoutReason);

        await expect(judge()).resolves.toMatchObject({
          error: 'RolloutFailed',
          message: 'ECS reported the rollout FAILED: no reason given',
        });
      });

      it('does not claim ECS rolled back a rollout Gantry failed on its own count', async () => {
        // The breaker is on, but the deployment is still IN_PROGRESS: ECS has not failed it.
        rollingOut('IN_PROGRESS');
        stopped(stoppedTask(1, crashed), stoppedTask(2, crashed));

        await expect(judge()).resolves.toMatchObject({ error: 'RolloutFailed', ecsRolledBack: false });
      });
    });

    describe('stopped tasks', () => {
      it('fails at maxFailedTasks tasks that failed to start, keeping each container’s reason in the cause', async () => {
        // Prepare
        rollingOut('IN_PROGRESS');
        const pullFailed = {
          stopCode: 'TaskFailedToStart',
          stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
        } as const;
        stopped(stoppedTask(1, pullFailed));

        // Act
        const verdict = await registerRolloutWait(deps, { ...wait, maxFailedTasks: 1 }, (parkedRollout) =>
          evaluateRollout(deps.ecs, parkedRollout, { deadlinePassed: false }),
        );

        // Assess
        expect(verdict).toMatchObject({
          outcome: 'failed',
          message: '1 task(s) of the new deployment stopped (limit 1)',
        });
        expect(sentCause()).toMatchObject({
          stoppedTasks: [
            {
              taskArn: stoppedTask(1, pullFailed).taskArn,
              stopCode: 'TaskFailedToStart',
              stoppedReason: pullFailed.stoppedReason,
              containers: [{ name: 'app', reason: 'CannotPullContainerError: pull image manifest' }],
            },
          ],
        });
      });

      it('describes at most the 100 stopped tasks DescribeTasks accepts in one call', async () => {
        // Prepare: "A list of up to 100 task IDs or full ARN entries" (ECS API model, DescribeTasksRequest.tasks).
        rollingOut('IN_PROGRESS');
        const taskArns = Array.from({ length: 150 }, (_, index) => stoppedTask(index, crashed).taskArn ?? '');
        ecsMock.on(ListTasksCommand).resolves({ taskArns });
        ecsMock.on(DescribeTasksCommand).resolves(describeTasksResponse([]));

        // Act
        await judge();

        // Assess
        expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(DescribeTasksCommand, {
          cluster: story.cluster,
          tasks: taskArns.slice(0, 100),
        });
      });

      it('counts no task that DescribeTasks no longer knows', async () => {
        // Prepare: ECS shows a stopped task for about an hour; past that DescribeTasks answers MISSING
        // (https://repost.aws/knowledge-center/ecs-task-stopped).
        rollingOut('FAILED');
        const taskArn = stoppedTask(1, crashed).taskArn ?? '';
        ecsMock.on(ListTasksCommand).resolves({ taskArns: [taskArn] });
        ecsMock.on(DescribeTasksCommand).resolves({ failures: [{ arn: taskArn, reason: 'MISSING' }] });

        // Act
        const verdict = await judge();

        // Assess
        expect(verdict).toMatchObject({ outcome: 'failed', stoppedTasks: [] });
      });

      it('describes nothing when ListTasks lists no stopped task', async () => {
        rollingOut('IN_PROGRESS');
        ecsMock.on(ListTasksCommand).resolves({});

        await expect(judge()).resolves.toEqual({ outcome: 'pending' });
        expect(ecsMock).not.toHaveReceivedCommand(DescribeTasksCommand);
      });
    });
  });

  describe('toStoppedTask', () => {
    it('keeps what ECS said about a stopped task, and nothing it did not say', () => {
      // Act
      const kept = toStoppedTask({
        taskArn: stoppedTask(1, crashed).taskArn,
        stoppedReason: 'Task failed container health checks',
        containers: [{ name: 'app' }, { exitCode: 137 }, { reason: 'OutOfMemoryError: Container killed' }],
      });

      // Assess: no key holds undefined (exactOptionalPropertyTypes), none is invented.
      expect(kept).toStrictEqual({
        taskArn: stoppedTask(1, crashed).taskArn,
        stoppedReason: 'Task failed container health checks',
        containers: [{ name: 'app' }, { exitCode: 137 }, { reason: 'OutOfMemoryError: Container killed' }],
      });
    });

    it('names a task described without an ARN "unknown", with no containers', () => {
      expect(toStoppedTask({ stopCode: 'TaskFailedToStart' })).toStrictEqual({
        taskArn: 'unknown',
        stopCode: 'TaskFailedToStart',
        containers: [],
      });
    });
  });

  describe('isFailedTask', () => {
    const task = (stopCode: string | undefined, stoppedReason: string | undefined): StoppedTask => ({
      taskArn: stoppedTask(1, crashed).taskArn ?? '',
      ...(stopCode !== undefined && { stopCode }),
      ...(stoppedReason !== undefined && { stoppedReason }),
      containers: [],
    });

    it.each([
      ...failureStops,
      // The reason is free text (ECS API model, Task.stoppedReason): any spelling of a health check counts.
      [
        'a healthcheck failed (written as one word)',
        'ServiceSchedulerInitiated',
        'Task failed container healthcheck',
      ],
      ['a Health Check failed (capitalised)', undefined, 'Task failed Health Check'],
    ])('counts a stop that says the new version is broken: %s', (_, stopCode, stoppedReason) => {
      expect(isFailedTask(task(stopCode, stoppedReason))).toBe(true);
    });

    it.each([...otherStops, ['no stop code and no reason', undefined, undefined]])(
      'does not count a stop that says nothing about the new version: %s',
      (_, stopCode, stoppedReason) => {
        expect(isFailedTask(task(stopCode, stoppedReason))).toBe(false);
      },
    );
  });

  describe('handleEcsEvent', () => {
    describe('SERVICE_DEPLOYMENT_COMPLETED', () => {
      it('resumes the waiting execution with SendTaskSuccess exactly once', async () => {
        // Prepare
        parked();

        // Act
        const outcome = await handleEcsEvent(deps, completedEvent);

        // Assess: a completed rollout carries no error, not even an undefined one.
        expect(outcome).toStrictEqual({
          action: 'resumed',
          deploymentId: story.deploymentId,
          outcome: 'completed',
        });
        expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskSuccessCommand, {
          taskToken,
          output: JSON.stringify({ rolloutState: 'COMPLETED', deploymentId: story.deploymentId }),
        });
        expect(sfnMock).not.toHaveReceivedCommand(SendTaskFailureCommand);
        expect(parkedWait()).toBeUndefined();
      });

      it('sends nothing more on a redelivery of the same event', async () => {
        parked();
        await handleEcsEvent(deps, completedEvent);

        const again = await handleEcsEvent(deps, completedEvent);

        expect(again).toMatchObject({ action: 'ignored' });
        expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
      });

      it('resumes once when two deliveries race, the other reporting already-resumed', async () => {
        parked();

        const outcomes = await Promise.all([
          handleEcsEvent(deps, completedEvent),
          handleEcsEvent(deps, structuredClone(completedEvent)),
        ]);

        expect(outcomes.map((outcome) => outcome.action).sort()).toEqual(['already-resumed', 'resumed']);
        expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
      });

      it('returns already-resumed without throwing when the execution timed out of the wait', async () => {
        parked();
        sfnMock
          .on(SendTaskSuccessCommand)
          .rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: { httpStatusCode: 400 } }));

        await expect(handleEcsEvent(deps, completedEvent)).resolves.toEqual({
          action: 'already-resumed',
          deploymentId: story.deploymentId,
        });
      });
    });

    it('parks the token again when resuming fails transiently, so a redelivery can resume it', async () => {
      // Prepare
      parked();
      sfnMock
        .on(SendTaskSuccessCommand)
        .rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {} }));

      // Act / Assess
      await expect(handleEcsEvent(deps, completedEvent)).rejects.toMatchObject({
        name: 'TransientAwsError',
      });
      expect(parkedWait()).toEqual(wait);
    });

    describe('SERVICE_DEPLOYMENT_FAILED', () => {
      it('fails the execution with RolloutFailed and stopped-task forensics', async () => {
        // Prepare
        parked();
        rollingOut('FAILED');
        stopped(stoppedTask(1, crashed), stoppedTask(2, crashed));

        // Act
        const outcome = await handleEcsEvent(deps, failedEvent);

        // Assess
        expect(outcome).toEqual({
          action: 'resumed',
          deploymentId: story.deploymentId,
          outcome: 'failed',
          error: 'RolloutFailed',
        });
        expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskFailureCommand, {
          taskToken,
          error: 'RolloutFailed',
        });
        expect(ecsMock).toHaveReceivedCommandWith(ListTasksCommand, {
          cluster: 'prod',
          startedBy: story.deploymentId,
          desiredStatus: 'STOPPED',
        });
        expect(sentCause()).toMatchObject({
          message: 'ECS reported the rollout FAILED: ECS deployment circuit breaker: task failed to start.',
          deploymentId: story.deploymentId,
          ecsRolledBack: true,
          stoppedTasks: [
            {
              taskArn: stoppedTask(1, crashed).taskArn,
              stopCode: 'EssentialContainerExited',
              stoppedReason: 'Essential container in task exited',
              containers: [{ name: 'app', exitCode: 1 }],
            },
            { taskArn: stoppedTask(2, crashed).taskArn },
          ],
          event: { eventName: 'SERVICE_DEPLOYMENT_FAILED' },
        });
        expect(sfnMock).not.toHaveReceivedCommand(SendTaskSuccessCommand);
      });

      it('fails with the message alone, cut to 1000 characters, when even that reason does not fit Step Functions’ cause', async () => {
        // Prepare: a reason longer than SendTaskFailure's 32 768-character cause, with a stopped task.
        parked();
        rollingOut('FAILED');
        stopped(stoppedTask(1, crashed));
        const reason = `ECS deployment circuit breaker: ${'task failed to start. '.repeat(2000)}`;
        const oversized = { ...failedEvent, detail: { ...(failedEvent.detail as object), reason } };

        // Act
        const outcome = await handleEcsEvent(deps, oversized);

        // Assess
        expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed', error: 'RolloutFailed' });
        expect(sentCause()).toEqual({ message: `ECS reported the rollout FAILED: ${reason}`.slice(0, 1000) });
      });

      it('says no reason was given when the event gives none', async () => {
        parked();
        rollingOut('FAILED');
        const { reason: _, ...withoutReason } = failedEvent.detail as Record<string, unknown>;

        await handleEcsEvent(deps, { ...failedEvent, detail: withoutReason });

        expect(sentCause()).toMatchObject({ message: 'ECS reported the rollout FAILED: no reason given' });
      });

      it('reads the circuit breaker from the waited service, in its cluster', async () => {
        parked();
        rollingOut('FAILED');

        await handleEcsEvent(deps, failedEvent);

        expect(ecsMock).toHaveReceivedCommandWith(DescribeServicesCommand, {
          cluster: story.cluster,
          services: [story.service],
        });
      });

      it('says ECS did not roll back when the service is gone by the time the event is judged', async () => {
        parked();
        ecsMock.on(DescribeServicesCommand).resolves({
          $metadata: {},
          failures: [{ arn: story.serviceArn, reason: 'MISSING' }],
        });

        await handleEcsEvent(deps, failedEvent);

        expect(sentCause()).toMatchObject({ ecsRolledBack: false });
      });

      it('fails transiently, resuming nothing, when it cannot read the circuit breaker', async () => {
        // Prepare
        parked();
        ecsMock.on(DescribeServicesCommand).rejects(
          Object.assign(new Error('Rate exceeded'), {
            name: 'ThrottlingException',
            $metadata: { httpStatusCode: 400 },
          }),
        );

        // Act / Assess
        await expect(handleEcsEvent(deps, failedEvent)).rejects.toMatchObject({
          name: 'TransientAwsError',
          message: 'describing the service: ThrottlingException: Rate exceeded',
        });
        expect(sfnMock).not.toHaveReceivedAnyCommand();
        expect(parkedWait()).toEqual(wait);
      });

      it('says ECS did not roll back when the circuit breaker has rollback off', async () => {
        parked();
        rollingOut('FAILED', { enable: true, rollback: false });

        await handleEcsEvent(deps, failedEvent);

        expect(sentCause()).toMatchObject({ ecsRolledBack: false, stoppedTasks: [] });
      });
    });

    describe('ECS Task State Change STOPPED', () => {
      /** The task the event describes, as DescribeTasks shows it once ListTasks lists it. */
      const eventsTask = { ...stoppedTask(0, crashed), taskArn: taskStoppedEvent.detail.taskArn as string };

      it('ignores one stopped task while maxFailedTasks is 2', async () => {
        parked();
        rollingOut('IN_PROGRESS');
        stopped(eventsTask);

        const outcome = await handleEcsEvent(deps, taskStoppedEvent);

        expect(outcome).toEqual({ action: 'ignored', why: 'rollout still in progress' });
        expect(sfnMock).not.toHaveReceivedAnyCommand();
        expect(parkedWait()).toEqual(wait);
      });

      it('fails the rollout at the second stopped task', async () => {
        parked();
        rollingOut('IN_PROGRESS');
        stopped(stoppedTask(1, crashed), eventsTask);

        const outcome = await handleEcsEvent(deps, taskStoppedEvent);

        expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed', error: 'RolloutFailed' });
        expect(sentCause()).toMatchObject({
          message: '2 task(s) of the new deployment stopped (limit 2)',
          ecsRolledBack: false,
          stoppedTasks: [{ stopCode: 'EssentialContainerExited' }, { stopCode: 'EssentialContainerExited' }],
        });
      });

      it("keeps no task event in the cause: its overrides may carry the task's environment values", async () => {
        // Prepare
        parked();
        rollingOut('IN_PROGRESS');
        stopped(stoppedTask(1, crashed), eventsTask);
        const withOverrides = structuredClone(taskStoppedEvent) as typeof taskStoppedEvent & {
          detail: { overrides?: unknown };
        };
        withOverrides.detail.overrides = {
          containerOverrides: [{ name: 'app', environment: [{ name: 'API_KEY', value: 'not-for-logs' }] }],
        };

        // Act
        await handleEcsEvent(deps, withOverrides);

        // Assess
        expect(sentCause()).not.toHaveProperty('event');
        expect(JSON.stringify(sentCause())).not.toContain('not-for-logs');
      });

      it('does not count tasks the scheduler stopped without a health-check reason', async () => {
        parked();
        rollingOut('IN_PROGRESS');
        stopped(stoppedTask(1, drained), stoppedTask(2, drained), eventsTask);

        await expect(handleEcsEvent(deps, taskStoppedEvent)).resolves.toEqual({
          action: 'ignored',
          why: 'rollout still in progress',
        });
        expect(sfnMock).not.toHaveReceivedAnyCommand();
      });

      it('counts tasks the scheduler stopped for failing health checks', async () => {
        parked();
        rollingOut('IN_PROGRESS');
        const unhealthy = {
          stopCode: 'ServiceSchedulerInitiated',
          stoppedReason:
            'Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-prod/0123456789abcdef)',
        } as const;
        stopped(stoppedTask(1, unhealthy), stoppedTask(2, unhealthy));

        await expect(handleEcsEvent(deps, taskStoppedEvent)).resolves.toMatchObject({
          action: 'resumed',
          outcome: 'failed',
        });
      });

      it('counts the stopped task the event describes when ListTasks does not list it yet', async () => {
        // Prepare: ListTasks lags behind the event and shows only the task that stopped before.
        parked();
        rollingOut('IN_PROGRESS');
        stopped(stoppedTask(1, crashed));

        // Act
        const outcome = await handleEcsEvent(deps, taskStoppedEvent);

        // Assess
        expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed', error: 'RolloutFailed' });
        expect(sentCause()).toMatchObject({
          message: '2 task(s) of the new deployment stopped (limit 2)',
          stoppedTasks: [
            {
              taskArn: taskStoppedEvent.detail.taskArn,
              stopCode: 'EssentialContainerExited',
              stoppedReason: 'Essential container in task exited',
              containers: [{ name: 'app', exitCode: 1 }],
            },
            { taskArn: stoppedTask(1, crashed).taskArn },
          ],
        });
      });

      it('fails on the event alone when ListTasks lists nothing: the listing never vetoes it', async () => {
        // Prepare
        parked({ maxFailedTasks: 1 });
        rollingOut('IN_PROGRESS');
        ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });

        // Act
        const outcome = await handleEcsEvent(deps, taskStoppedEvent);

        // Assess
        expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed', error: 'RolloutFailed' });
        expect(ecsMock).not.toHaveReceivedCommand(DescribeTasksCommand);
      });

      it('ignores a task that is not STOPPED yet', async () => {
        parked();
        const deprovisioning = structuredClone(taskStoppedEvent);
        deprovisioning.detail.lastStatus = 'DEPROVISIONING';

        await expect(handleEcsEvent(deps, deprovisioning)).resolves.toEqual({
          action: 'ignored',
          why: 'task is DEPROVISIONING, not STOPPED',
        });
        expect(ecsMock).not.toHaveReceivedAnyCommand();
      });

      it.each([
        ['no startedBy', undefined],
        ['a RunTask caller', 'gantry-db-migrate'],
      ])('ignores a task with %s, which no service deployment started', async (_, startedBy) => {
        parked();
        const standalone = structuredClone(taskStoppedEvent);
        if (startedBy === undefined) delete standalone.detail.startedBy;
        else standalone.detail.startedBy = startedBy;

        await expect(handleEcsEvent(deps, standalone)).resolves.toEqual({
          action: 'ignored',
          why: 'not started by a service deployment',
        });
        expect(sfnMock).not.toHaveReceivedAnyCommand();
        expect(parkedWait()).toEqual(wait);
      });
    });

    it('ignores an event for a deployment nobody waits on', async () => {
      rollingOut('COMPLETED');

      await expect(handleEcsEvent(deps, completedEvent)).resolves.toEqual({
        action: 'ignored',
        why: 'no execution waits on this deployment',
      });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it('ignores IN_PROGRESS, which does not end a rollout', async () => {
      parked();

      await expect(handleEcsEvent(deps, inProgressEvent)).resolves.toEqual({
        action: 'ignored',
        why: 'SERVICE_DEPLOYMENT_IN_PROGRESS does not end a rollout',
      });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
      expect(parkedWait()).toEqual(wait);
    });
  });

  describe("onEcsEvent's stopped-task rules in serverless.yml", () => {
    const rules = readEventRules().filter((rule) => rule.functionKey === 'onEcsEvent');
    const stoppedWith = (stopCode: string, stoppedReason: string) => ({
      ...taskStoppedEvent,
      detail: { ...taskStoppedEvent.detail, stopCode, stoppedReason },
    });

    it.each(failureStops)('delivers a stop that can count as a failure: %s', (_, stopCode, stoppedReason) => {
      expect(rules.some((rule) => matchesPattern(rule.pattern, stoppedWith(stopCode, stoppedReason)))).toBe(
        true,
      );
    });

    it.each(otherStops)('does not deliver a stop that cannot count: %s', (_, stopCode, stoppedReason) => {
      expect(rules.some((rule) => matchesPattern(rule.pattern, stoppedWith(stopCode, stoppedReason)))).toBe(
        false,
      );
    });
  });

  describe('events it cannot apply', () => {
    it('judges a task event missing a field the decision does not use', async () => {
      // Prepare: no clusterArn, and an exit code ECS left null.
      parked({ maxFailedTasks: 1 });
      rollingOut('IN_PROGRESS');
      const partial = structuredClone(taskStoppedEvent);
      delete partial.detail.clusterArn;
      partial.detail.containers = [{ name: 'app', exitCode: null }];

      // Act
      const outcome = await handleEcsEvent(deps, partial);

      // Assess: the null exit code is dropped, the rest of the container kept.
      expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed', error: 'RolloutFailed' });
      expect((sentCause().stoppedTasks as StoppedTask[])[0]?.containers).toStrictEqual([{ name: 'app' }]);
    });

    it.each([
      [
        'another detail-type of aws.ecs',
        { ...completedEvent, 'detail-type': 'ECS Container Instance State Change' },
        'ECS Container Instance State Change is not a deployment or task state change',
      ],
      [
        'a deployment event without deploymentId',
        { ...completedEvent, detail: { eventName: 'SERVICE_DEPLOYMENT_COMPLETED' } },
        'ECS Deployment State Change without a usable detail.deploymentId',
      ],
      [
        'a task event without taskArn',
        { ...taskStoppedEvent, detail: { lastStatus: 'STOPPED' } },
        'ECS Task State Change without a usable detail.taskArn',
      ],
      [
        'a deployment event with an empty detail',
        { ...completedEvent, detail: {} },
        'ECS Deployment State Change without a usable detail.eventName, detail.deploymentId',
      ],
      [
        'a stop with neither a failure stop code nor a health-check reason',
        {
          ...taskStoppedEvent,
          detail: { ...taskStoppedEvent.detail, stopCode: undefined, stoppedReason: 'Task stopped' },
        },
        'the task stopped for a reason that is not a failure (no stop code)',
      ],
      [
        'a stop that is not a failure',
        {
          ...taskStoppedEvent,
          detail: {
            ...taskStoppedEvent.detail,
            stopCode: 'UserInitiated',
            stoppedReason: 'Task stopped by user',
          },
        },
        'the task stopped for a reason that is not a failure (UserInitiated)',
      ],
    ])('ignores %s, saying why, without reading anything', async (_, event, why) => {
      // Prepare
      parked();

      // Act
      const outcome = await handleEcsEvent(deps, event);

      // Assess
      expect(outcome).toEqual({ action: 'ignored', why });
      expect(table.mock).not.toHaveReceivedAnyCommand();
      expect(ecsMock).not.toHaveReceivedAnyCommand();
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it.each([
      ['not an object', 'ECS Deployment State Change'],
      ['an event of another source', { ...completedEvent, source: 'aws.ecr' }],
    ])('refuses %s with InputInvalid', async (_, event) => {
      await expect(handleEcsEvent(deps, event)).rejects.toMatchObject({
        name: 'InputInvalid',
        message: 'not an EventBridge event from aws.ecs',
      });
    });
  });

  describe('settleRollout', () => {
    it('returns false, without throwing, when SendTaskSuccess reports TaskTimedOut', async () => {
      parked();
      sfnMock
        .on(SendTaskSuccessCommand)
        .rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: { httpStatusCode: 400 } }));

      await expect(
        settleRollout(deps, wait, { outcome: 'completed', deploymentId: story.deploymentId }),
      ).resolves.toBe(false);
    });

    it('returns false and sends nothing when another resumer already claimed the wait', async () => {
      await expect(
        settleRollout(deps, wait, { outcome: 'completed', deploymentId: story.deploymentId }),
      ).resolves.toBe(false);
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });
  });

  describe('failureCause', () => {
    it('stays within Step Functions’ 32 768 characters with 2000 stopped tasks', () => {
      // Prepare
      const stoppedTasks: StoppedTask[] = Array.from({ length: 2000 }, (_, index) => ({
        taskArn: stoppedTask(index, crashed).taskArn ?? '',
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: [
          { name: 'app', exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' },
        ],
      }));

      // Act
      const cause = failureCause({
        outcome: 'failed',
        error: 'RolloutFailed',
        message: '2000 task(s) of the new deployment stopped (limit 2)',
        deploymentId: story.deploymentId,
        ecsRolledBack: true,
        stoppedTasks,
        event: taskStoppedEvent.detail,
      });

      // Assess
      expect(cause.length).toBeLessThanOrEqual(32_768);
      const parsed = JSON.parse(cause) as { stoppedTasks: StoppedTask[] };
      expect(parsed).toMatchObject({ message: expect.stringContaining('2000 task(s)'), ecsRolledBack: true });
      expect(parsed.stoppedTasks.length).toBeGreaterThan(0);
      expect(parsed).not.toHaveProperty('event');
      expect(parsed.stoppedTasks.length).toBeLessThan(2000);
      expect(parsed.stoppedTasks[0]).toEqual(stoppedTasks[0]);
    });

    it('keeps everything when it fits', () => {
      const cause = failureCause({
        outcome: 'failed',
        error: 'RolloutTimedOut',
        message: 'too slow',
        deploymentId: story.deploymentId,
        ecsRolledBack: false,
        stoppedTasks: [],
        event: { eventName: 'SERVICE_DEPLOYMENT_FAILED' },
      });

      expect(JSON.parse(cause)).toEqual({
        message: 'too slow',
        deploymentId: story.deploymentId,
        ecsRolledBack: false,
        stoppedTasks: [],
        event: { eventName: 'SERVICE_DEPLOYMENT_FAILED' },
      });
    });
  });

  describe('on-ecs-event handler logging', () => {
    const context = {
      functionName: 'gantry-dev-onEcsEvent',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:gantry-dev-onEcsEvent',
      memoryLimitInMB: '256',
      awsRequestId: '6f7c2a1e-0b6d-4e0f-9c1a-2b3c4d5e6f70',
      logGroupName: '/aws/lambda/gantry-dev-onEcsEvent',
      logStreamName: '2025/06/03/[$LATEST]0123456789abcdef',
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => 30_000,
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    } satisfies Context;

    async function loadHandler() {
      vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG');
      vi.stubEnv('POWERTOOLS_DEV', '');
      vi.stubEnv('GANTRY_COORDINATION_TABLE', tableName);
      vi.resetModules();
      const { handler } = await import('../../functions/handlers/on-ecs-event.ts');
      const written: string[] = [];
      const capture = (chunk: unknown) => {
        written.push(String(chunk));
        return true;
      };
      vi.spyOn(process.stdout, 'write').mockImplementation(capture);
      vi.spyOn(process.stderr, 'write').mockImplementation(capture);
      for (const method of ['log', 'info', 'debug', 'warn', 'error'] as const) {
        vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
          written.push(args.map(String).join(' '));
        });
      }
      return { handler, written };
    }

    it('never logs the task token when it resumes a failed rollout', async () => {
      // Prepare
      parked();
      rollingOut('FAILED');
      stopped(stoppedTask(1, crashed));
      const { handler, written } = await loadHandler();

      // Act
      const outcome = await handler(failedEvent as never, context);

      // Assess
      expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed' });
      const log = written.join('\n');
      expect(log).toContain('ecs event');
      expect(log).not.toContain(taskToken);
    });

    it('judges a task event without clusterArn instead of throwing it back for retries', async () => {
      // Prepare
      parked({ maxFailedTasks: 1 });
      rollingOut('IN_PROGRESS');
      const partial = structuredClone(taskStoppedEvent);
      delete partial.detail.clusterArn;
      const { handler } = await loadHandler();

      // Act
      const outcome = await handler(partial as never, context);

      // Assess
      expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed', error: 'RolloutFailed' });
    });

    it('logs an event it ignores as one line that says so', async () => {
      // Prepare
      const { handler, written } = await loadHandler();

      // Act
      const outcome = await handler(inProgressEvent as never, context);

      // Assess
      expect(outcome).toEqual({
        action: 'ignored',
        why: 'SERVICE_DEPLOYMENT_IN_PROGRESS does not end a rollout',
      });
      const lines = written.filter((line) => line.includes('SERVICE_DEPLOYMENT_IN_PROGRESS'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(
        '"message":"ignored: SERVICE_DEPLOYMENT_IN_PROGRESS does not end a rollout"',
      );
      expect(written.join('\n')).not.toContain('ecs event');
    });

    it('never logs the task token when the resume fails', async () => {
      parked();
      sfnMock.on(SendTaskSuccessCommand).rejects(
        Object.assign(new Error('User is not authorized to perform: states:SendTaskSuccess'), {
          name: 'AccessDeniedException',
          $metadata: { httpStatusCode: 400 },
        }),
      );
      const { handler, written } = await loadHandler();

      await expect(handler(completedEvent as never, context)).rejects.toMatchObject({
        name: 'AccessDeniedException',
      });

      const log = written.join('\n');
      expect(log).toContain('step failed');
      expect(log).not.toContain(taskToken);
    });
  });
});
