import {
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployPlan } from '../../functions/src/deploy-plan.ts';
import type { DeployState } from '../../functions/src/deploy-state.ts';
import { failureCause } from '../../functions/src/ecs/rollout.ts';
import { type OutcomeDependencies, recordOutcome } from '../../functions/src/outcome.ts';
import type { DeployedImage } from '../../functions/src/release.ts';
import { rollBack } from '../../functions/src/target.ts';
import {
  crashed,
  describeServicesResponse,
  serviceOf,
  serviceRollingOut,
  stoppedTask,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';

const releaseName = '/gantry/web/prod/release';
const now = new Date('2025-06-03T10:19:31.000Z');
const rollbackDeploymentId = 'ecs-svc/5555555555555555555';

const older: DeployedImage = {
  image: `${story.registry}/web@sha256:${'c'.repeat(64)}`,
  digest: `sha256:${'c'.repeat(64)}`,
  tag: 'v1.4.0',
  taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:40',
};
const live: DeployedImage = {
  image: `${story.registry}/web@${story.previousDigest}`,
  digest: story.previousDigest,
  tag: 'v1.4.1',
  taskDefinitionArn: story.previousTaskDefinitionArn,
};
const desired = { image: `${story.registry}/web@${story.digest}`, digest: story.digest, tag: 'v1.4.2' };

function planOf(overrides: Partial<DeployPlan> = {}): DeployPlan {
  return {
    app: 'web',
    env: 'prod',
    executionArn: story.executionArn,
    requestedAt: '2025-06-03T10:15:01Z',
    source: 'ecr-push',
    mode: 'deploy',
    config: webConfig,
    desired,
    live,
    livePrevious: older,
    ...overrides,
  };
}

const deployment = {
  deploymentId: story.deploymentId,
  taskDefinitionArn: story.taskDefinitionArn,
  previousTaskDefinitionArn: story.previousTaskDefinitionArn,
  previousImage: live.image,
};

/** What Step Functions' Catch puts in `$.failure` when the rollout wait failed via SendTaskFailure. */
function rolloutFailure(ecsRolledBack: boolean) {
  return {
    Error: 'RolloutFailed',
    Cause: failureCause({
      outcome: 'failed',
      error: 'RolloutFailed',
      message: 'ECS reported the rollout FAILED: ECS deployment circuit breaker: task failed to start.',
      deploymentId: story.deploymentId,
      ecsRolledBack,
      stoppedTasks: [stoppedTask(1, crashed), stoppedTask(2, crashed)].map((task) => ({
        taskArn: task.taskArn ?? '',
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: [{ name: 'app', exitCode: 1 }],
      })),
    }),
  };
}

/** The same failure thrown by a Lambda (checkRollout): Lambda wraps Gantry's JSON message in its own. */
function lambdaFailure() {
  const inner = rolloutFailure(false).Cause;
  return {
    Error: 'RolloutFailed',
    Cause: JSON.stringify({
      errorType: 'RolloutFailed',
      errorMessage: inner,
      trace: ['RolloutFailed: {"message":…', '    at lambdaHandler (/var/task/check-rollout.mjs:1:2)'],
    }),
  };
}

const eventsMock = mockClient(EventBridgeClient);
const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: story.region });
let ssm: ReturnType<typeof fakeParameterStore>;
let deps: OutcomeDependencies;

function putEventDetail(): Record<string, unknown> {
  const entry = eventsMock.commandCalls(PutEventsCommand).at(-1)?.args[0].input.Entries?.[0];
  return JSON.parse(entry?.Detail ?? 'null') as Record<string, unknown>;
}

beforeEach(() => {
  ssm = fakeParameterStore();
  deps = {
    ssm: ssm.client,
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
  eventsMock.reset();
  ecsMock.reset();
});

describe('outcome', () => {
  describe('recordOutcome', () => {
    describe('release', () => {
      it('records the new release with the old live one as previous, labels it live and announces it', async () => {
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
          taskDefinitionArn: story.taskDefinitionArn,
          at: now.toISOString(),
          executionArn: story.executionArn,
          previous: live,
        };
        expect(ssm.json(releaseName)).toMatchObject(record);
        expect(ssm.parameters.get(releaseName)).toMatchObject({
          version: 2,
          labels: ['live'],
          type: 'String',
        });
        expect(eventsMock).toHaveReceivedCommandExactlyOnceWith(PutEventsCommand, {
          Entries: [
            {
              Source: 'gantry',
              DetailType: 'Release Succeeded',
              EventBusName: 'default',
              Resources: [story.executionArn],
              Detail: expect.any(String),
            },
          ],
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

      it('does not write a second version when the step is retried', async () => {
        const state: DeployState = { plan: planOf(), deployment };
        const first = await recordOutcome(deps, 'release', state);

        const second = await recordOutcome(deps, 'release', state);

        expect(second.version).toBe(first.version);
        expect(ssm.parameters.get(releaseName)?.version).toBe(1);
        expect(ssm.mock).toHaveReceivedCommandTimes(PutParameterCommand, 1);
      });

      it('records a requested rollback as kind rollback that forgets the release it left', async () => {
        const plan = planOf({
          mode: 'rollback',
          desired: live,
          live: { ...desired, taskDefinitionArn: story.taskDefinitionArn },
          reason: 'bad release',
        });

        const result = await recordOutcome(deps, 'release', {
          plan,
          deployment: { ...deployment, taskDefinitionArn: live.taskDefinitionArn },
        });

        expect(result.event).toBe('Rollback Succeeded');
        expect(ssm.json(releaseName)).toMatchObject({
          kind: 'rollback',
          ...live,
          previous: null,
          reason: 'bad release',
          rolledBackFrom: { digest: story.digest, taskDefinitionArn: story.taskDefinitionArn },
        });
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
          rolledBackFrom: { ...desired, taskDefinitionArn: story.taskDefinitionArn },
        });
        expect(ssm.parameters.get(releaseName)?.labels).toEqual(['live']);
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

      it('records a failed rollback without moving the live label', async () => {
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
        expect(ssm.parameters.get(releaseName)?.labels).toEqual([]);
      });
    });

    describe('superseded', () => {
      it('writes no parameter and announces who superseded the request', async () => {
        const newer = 'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:push-web-prod-2';
        const state: DeployState = { plan: planOf(), lock: { status: 'superseded', by: newer } };

        const result = await recordOutcome(deps, 'superseded', state);

        expect(result).toEqual({ kind: 'superseded', event: 'Request Superseded' });
        expect(ssm.mock).not.toHaveReceivedCommand(PutParameterCommand);
        expect(ssm.parameters.size).toBe(0);
        expect(eventsMock).toHaveReceivedCommandWith(PutEventsCommand, {
          Entries: [expect.objectContaining({ DetailType: 'Request Superseded', Source: 'gantry' })],
        });
        expect(putEventDetail()).toMatchObject({ supersededBy: newer });
        expect(putEventDetail()).not.toHaveProperty('record');
      });
    });

    it('throws TransientAwsError when EventBridge refuses the entry', async () => {
      eventsMock.on(PutEventsCommand).resolves({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service error' }],
      });

      await expect(recordOutcome(deps, 'release', { plan: planOf(), deployment })).rejects.toMatchObject({
        name: 'TransientAwsError',
        message: 'EventBridge refused the event: InternalFailure Internal service error',
      });
    });
  });

  describe('rollBack', () => {
    beforeEach(() => {
      ecsMock.on(UpdateServiceCommand).resolves({
        service: serviceOf({
          deployments: [
            { id: rollbackDeploymentId, status: 'PRIMARY', taskDefinition: live.taskDefinitionArn },
          ],
        }),
      });
    });

    it('follows the rollback deployment ECS started itself when the failure says ecsRolledBack', async () => {
      // Prepare: the breaker already made the previous revision PRIMARY again.
      ecsMock.on(DescribeServicesCommand).resolves(
        describeServicesResponse(
          serviceOf({
            deployments: [
              {
                id: rollbackDeploymentId,
                status: 'PRIMARY',
                taskDefinition: live.taskDefinitionArn,
                rolloutState: 'IN_PROGRESS',
              },
              {
                id: story.deploymentId,
                status: 'ACTIVE',
                taskDefinition: story.taskDefinitionArn,
                rolloutState: 'FAILED',
              },
            ],
          }),
        ),
      );

      // Act
      const result = await rollBack(ecs, { plan: planOf(), deployment, failure: rolloutFailure(true) });

      // Assess
      expect(result).toEqual({
        deploymentId: rollbackDeploymentId,
        taskDefinitionArn: live.taskDefinitionArn,
        previousTaskDefinitionArn: live.taskDefinitionArn,
      });
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      expect(ecsMock).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
    });

    it('updates the service itself when ECS says it rolled back but another revision is PRIMARY', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('FAILED')));

      await rollBack(ecs, { plan: planOf(), deployment, failure: rolloutFailure(true) });

      expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
        cluster: 'prod',
        service: 'web',
        taskDefinition: live.taskDefinitionArn,
      });
    });

    it('puts the recorded live task definition back when ECS did not roll back', async () => {
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));

      const result = await rollBack(ecs, { plan: planOf(), deployment, failure: lambdaFailure() });

      expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
        cluster: 'prod',
        service: 'web',
        taskDefinition: live.taskDefinitionArn,
      });
      expect(result).toMatchObject({
        deploymentId: rollbackDeploymentId,
        taskDefinitionArn: live.taskDefinitionArn,
      });
    });

    it('puts back what the service ran before when no release is recorded', async () => {
      const firstDeploy: DeployState = {
        plan: planOf({ live: null, livePrevious: null }),
        deployment: {
          ...deployment,
          previousTaskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7',
        },
        failure: rolloutFailure(false),
      };
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));

      await rollBack(ecs, firstDeploy);

      expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
        taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7',
      });
    });

    it('fails with DeployFailed when there is no release and the deploy never started', async () => {
      await expect(
        rollBack(ecs, { plan: planOf({ live: null }), failure: { Error: 'DeployFailed', Cause: 'x' } }),
      ).rejects.toMatchObject({ name: 'DeployFailed' });
      expect(ecsMock).not.toHaveReceivedAnyCommand();
    });
  });
});
