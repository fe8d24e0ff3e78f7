import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployPlan } from '../../functions/src/deploy-plan.ts';
import type { DeployState } from '../../functions/src/deploy-state.ts';
import { rollbackTarget } from '../../functions/src/deploy-state.ts';
import type { EcsRollbackPatience } from '../../functions/src/ecs/deploy.ts';
import { ecsTarget } from '../../functions/src/targets/ecs.ts';
import { targetFor } from '../../functions/src/targets/target.ts';
import {
  describeServicesResponse,
  describeTaskDefinitionResponse,
  ecsTargetClients,
  serviceOf,
  serviceRollingOut,
  story,
} from '../support/aws-fixtures.ts';
import {
  deployment,
  desired,
  lambdaFailure,
  live,
  planOf,
  rollbackDeploymentId,
  rolloutFailure,
} from '../support/deploy-states.ts';

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: story.region });

afterEach(() => {
  ecsMock.reset();
});

function deploy(client: ECSClient, plan: DeployPlan) {
  return targetFor(plan.config, ecsTargetClients(client)).deploy(plan);
}

function rollBack(client: ECSClient, state: DeployState, patience?: EcsRollbackPatience) {
  const { target, health } = state.plan.config;
  if (target.type !== 'ecs') throw new TypeError('an ECS plan is expected');
  return ecsTarget(target, health, { ecs: client }, patience).rollBack(state);
}

describe('deploy', () => {
  beforeEach(() => {
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves(describeTaskDefinitionResponse());
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({
      taskDefinition: { taskDefinitionArn: story.taskDefinitionArn, family: 'web', revision: 42 },
    });
    ecsMock.on(UpdateServiceCommand).resolves({ service: serviceRollingOut('IN_PROGRESS') });
  });

  it('registers a revision with the desired image for a deploy', async () => {
    const result = await deploy(ecs, planOf());

    expect(ecsMock).toHaveReceivedCommandWith(RegisterTaskDefinitionCommand, {
      containerDefinitions: [
        expect.objectContaining({ name: 'app', image: desired.image }),
        expect.anything(),
      ],
    });
    expect(result).toMatchObject({
      deploymentId: story.deploymentId,
      revision: story.taskDefinitionArn,
    });
  });

  it('names the image the service ran before, so even a first deploy rolls back by image', async () => {
    // Act
    const started = await deploy(ecs, planOf());

    // Assess
    expect(started).toStrictEqual({
      target: 'ecs',
      deploymentId: story.deploymentId,
      revision: story.taskDefinitionArn,
      previousRevision: story.previousTaskDefinitionArn,
      previousImage: live.image,
    });
  });

  it('names no previous image for a requested rollback to a recorded revision', async () => {
    // Act
    const started = await deploy(ecs, planOf({ mode: 'rollback', desired: live }));

    // Assess
    expect(started).toStrictEqual({
      target: 'ecs',
      deploymentId: story.deploymentId,
      revision: live.revision,
      previousRevision: story.previousTaskDefinitionArn,
    });
  });

  it('reuses the recorded revision for a requested rollback, registering nothing', async () => {
    await deploy(ecs, planOf({ mode: 'rollback', desired: live }));

    expect(ecsMock).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
    expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
      taskDefinition: live.revision,
    });
  });
});

describe('rollbackTarget', () => {
  it('is the recorded live release when there is one', () => {
    expect(rollbackTarget({ plan: planOf(), deployment })).toEqual(live);
  });

  it('is what the service ran before, by image and digest, on a first deploy', () => {
    expect(rollbackTarget({ plan: planOf({ live: null }), deployment })).toEqual({
      image: live.image,
      digest: live.digest,
      revision: story.previousTaskDefinitionArn,
    });
  });

  it('marks the digest unknown when the previous image was a tag', () => {
    const byTag = { ...deployment, previousImage: `${story.registry}/web:latest` };

    expect(rollbackTarget({ plan: planOf({ live: null }), deployment: byTag })).toMatchObject({
      digest: 'unknown',
      revision: story.previousTaskDefinitionArn,
    });
  });
});

describe('rollBack', () => {
  /** ECS's circuit breaker failed the deployment and its own rollback to `taskDefinition` is PRIMARY. */
  function ecsRollingBackTo(taskDefinition: string) {
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServicesResponse(
        serviceOf({
          deployments: [
            { id: rollbackDeploymentId, status: 'PRIMARY', taskDefinition, rolloutState: 'IN_PROGRESS' },
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
  }

  beforeEach(() => {
    ecsMock.on(UpdateServiceCommand).resolves({
      service: serviceOf({
        deployments: [{ id: rollbackDeploymentId, status: 'PRIMARY', taskDefinition: live.revision }],
      }),
    });
  });

  it('follows the rollback deployment ECS started itself when the failure says ecsRolledBack', async () => {
    // Prepare: the breaker already made the previous revision PRIMARY again.
    ecsRollingBackTo(live.revision);

    // Act
    const result = await rollBack(ecs, { plan: planOf(), deployment, failure: rolloutFailure(true) });

    // Assess
    expect(result).toEqual({
      target: 'ecs',
      deploymentId: rollbackDeploymentId,
      revision: live.revision,
      previousRevision: live.revision,
    });
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(ecsMock).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it('never starts a second rollback while ECS’s own is not PRIMARY yet', async () => {
    // Prepare: the breaker failed the deployment, which is still PRIMARY; ECS's rollback comes later.
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('FAILED')));
    const patience = { polls: 2, intervalMs: 1000, sleep: async () => undefined };

    // Act
    const rolling = rollBack(ecs, { plan: planOf(), deployment, failure: rolloutFailure(true) }, patience);

    // Assess: the step is retried later; the service is not touched.
    await expect(rolling).rejects.toMatchObject({ name: 'TransientAwsError' });
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
  });

  it('updates the service itself when ECS says it rolled back but its rollback runs another revision', async () => {
    ecsRollingBackTo('arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7');

    await rollBack(ecs, { plan: planOf(), deployment, failure: rolloutFailure(true) });

    expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
      cluster: 'prod',
      service: 'web',
      taskDefinition: live.revision,
    });
  });

  it('puts the recorded live task definition back when ECS did not roll back', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));

    const result = await rollBack(ecs, { plan: planOf(), deployment, failure: lambdaFailure() });

    expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
      cluster: 'prod',
      service: 'web',
      taskDefinition: live.revision,
    });
    expect(result).toMatchObject({
      deploymentId: rollbackDeploymentId,
      revision: live.revision,
    });
  });

  it('puts back what the service ran before when no release is recorded', async () => {
    const firstDeploy: DeployState = {
      plan: planOf({ live: null, livePrevious: null }),
      deployment: {
        ...deployment,
        previousRevision: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7',
      },
      failure: rolloutFailure(false),
    };
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));

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
