import {
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListTasksCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { managedServiceTag } from '../../functions/src/ecs/deploy.ts';
import { watchFor } from '../../functions/src/ecs/service-deployment.ts';
import { ecsTarget } from '../../functions/src/targets/ecs.ts';
import {
  describeServicesResponse,
  describeTaskDefinitionResponse,
  serviceOf,
  serviceRollingOut,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';
import { deployment, live, planOf, rollbackDeploymentId } from '../support/deploy-states.ts';

/*
 * The ECS target behind the seam: what it reads live, what it parks, how it judges a staged
 * rollout at its deadline, and what it refuses before a deploy.
 */

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: story.region });
const arn = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/r9i43YFjvgF_xlg7m2eJ1r';
const watch = watchFor({ deploymentConfiguration: { strategy: 'CANARY' } }, 'CANARY', arn, {
  gates: undefined,
  healthSeconds: 900,
});
const target = (gates?: { alarms: string[] }) =>
  ecsTarget(webConfig.target, webConfig.health, { ecs }, undefined, gates);

afterEach(() => {
  ecsMock.reset();
});

describe('readLive', () => {
  it('names no rollout in progress once the PRIMARY deployment completed', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('COMPLETED')));

    // Act
    const live = await target().readLive();

    // Assess
    expect(live).toStrictEqual({ revision: story.taskDefinitionArn });
  });

  it("reads the tracked container's image in the running revision when asked", async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves(describeTaskDefinitionResponse());

    // Act
    const running = await target().readLive({ withImage: true });

    // Assess
    expect(ecsMock).toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, {
      taskDefinition: story.previousTaskDefinitionArn,
    });
    expect(running).toStrictEqual({ revision: story.previousTaskDefinitionArn, image: live.image });
  });

  it('names no image when the running revision has no container of that name', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves(describeTaskDefinitionResponse());
    const other = ecsTarget({ ...webConfig.target, container: 'sidecar' }, webConfig.health, { ecs });

    // Act
    const running = await other.readLive({ withImage: true });

    // Assess
    expect(running).toStrictEqual({ revision: story.previousTaskDefinitionArn });
  });
});

describe('parkedDetails', () => {
  it('parks the service and the failure limit for a rolling deployment, and the watch for a staged one', () => {
    // Act
    const rolling = target().parkedDetails(deployment);
    const staged = target().parkedDetails({ ...deployment, watch });

    // Assess
    expect(rolling).toStrictEqual({ cluster: 'prod', service: 'web', maxFailedTasks: 2 });
    expect(staged).toStrictEqual({ cluster: 'prod', service: 'web', maxFailedTasks: 2, watch });
  });
});

describe('judgeRollout of a staged deployment', () => {
  function stillRunning() {
    ecsMock.on(DescribeServiceDeploymentsCommand).resolves({
      serviceDeployments: [{ serviceDeploymentArn: arn, status: 'IN_PROGRESS', lifecycleStage: 'BAKE_TIME' }],
    });
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
  }

  it('re-reads the status at a timer expiry while re-checks are left', async () => {
    // Prepare
    stillRunning();

    // Act
    const judgement = await target().judgeRollout({ ...deployment, watch }, { deadlinePassed: true });

    // Assess
    expect(judgement).toEqual({ outcome: 'pending', lifecycleStage: 'BAKE_TIME' });
  });

  it('times out at the last expiry', async () => {
    // Prepare
    stillRunning();

    // Act
    const judgement = await target().judgeRollout(
      { ...deployment, watch: { ...watch, rechecksLeft: 0 } },
      { deadlinePassed: true },
    );

    // Assess
    expect(judgement).toMatchObject({
      outcome: 'failed',
      error: 'RolloutTimedOut',
      serviceDeploymentArn: arn,
    });
  });

  it('waits before the deadline even with no re-check left', async () => {
    // Prepare
    stillRunning();

    // Act
    const judgement = await target().judgeRollout(
      { ...deployment, watch: { ...watch, rechecksLeft: 0 } },
      { deadlinePassed: false },
    );

    // Assess
    expect(judgement).toMatchObject({ outcome: 'pending' });
  });
});

describe('requireDeployable', () => {
  const managed = { tags: [{ key: managedServiceTag.key, value: managedServiceTag.value }] };

  it('accepts a managed rolling service when the config has no gates', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf(managed)));

    // Act / Assess
    await expect(target().requireDeployable()).resolves.toBeUndefined();
  });

  it('refuses gates on a rolling service, before anything changes', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf(managed)));

    // Act / Assess
    await expect(target({ alarms: [] }).requireDeployable()).rejects.toMatchObject({
      name: 'GateHooksMissing',
    });
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
  });
});

describe('requireRunnable', () => {
  it('refuses a recorded release whose revision no longer exists', async () => {
    // Prepare
    ecsMock.on(DescribeTaskDefinitionCommand).rejects(
      Object.assign(new Error('Unable to describe task definition.'), {
        name: 'ClientException',
        $metadata: {},
      }),
    );

    // Act / Assess
    await expect(target().requireRunnable(live)).rejects.toMatchObject({ name: 'DeployFailed' });
  });
});

describe('rollBack, the failure it reads', () => {
  it('puts the recorded release back when the deploy never started and the failure is plain text', async () => {
    // Prepare: Deploy itself failed, so there is no $.deployment; the Cause is no JSON.
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));
    ecsMock.on(UpdateServiceCommand).resolves({
      service: serviceOf({
        deployments: [{ id: rollbackDeploymentId, status: 'PRIMARY', taskDefinition: live.revision }],
      }),
    });

    // Act
    const rollback = await target().rollBack({
      plan: planOf(),
      failure: { Error: 'States.TaskFailed', Cause: 'Lambda timed out' },
    });

    // Assess
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { taskDefinition: live.revision });
    expect(rollback).toMatchObject({
      target: 'ecs',
      deploymentId: rollbackDeploymentId,
      revision: live.revision,
    });
  });
});
