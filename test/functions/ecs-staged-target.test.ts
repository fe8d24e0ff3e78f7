import {
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  ECSClient,
  type ServiceDeployment,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeployState } from '../../functions/src/deploy-state.ts';
import { watchFor } from '../../functions/src/ecs/service-deployment.ts';
import { ecsTarget } from '../../functions/src/targets/ecs.ts';
import { describeServicesResponse, ecsTargetClients, serviceOf, story } from '../support/aws-fixtures.ts';
import { deployment, live, planOf } from '../support/deploy-states.ts';

/*
 * The ECS target's rollback of a blue/green, linear or canary deployment.
 */

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: story.region });
const arn = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/r9i43YFjvgF_xlg7m2eJ1r';
const watch = watchFor(
  { deploymentConfiguration: { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 30 } },
  'BLUE_GREEN',
  arn,
  {
    gates: undefined,
    healthSeconds: 900,
  },
);
const state: DeployState = {
  plan: planOf(),
  deployment: { ...deployment, watch },
  failure: { Error: 'RollbackRequested', Cause: '{"message":"error rate up"}' },
};

function rollBack() {
  const { target, health } = state.plan.config;
  if (target.type !== 'ecs') throw new Error('an ECS plan');
  return ecsTarget(target, health, ecsTargetClients(ecs)).rollBack(state);
}

function deploymentIs(status: ServiceDeployment['status']) {
  ecsMock
    .on(DescribeServiceDeploymentsCommand)
    .resolves({ serviceDeployments: [{ serviceDeploymentArn: arn, status }] });
}

afterEach(() => {
  ecsMock.reset();
});

describe('rolling back a staged deployment', () => {
  it('stops an unfinished one with ROLLBACK and follows it until ROLLBACK_SUCCESSFUL', async () => {
    deploymentIs('IN_PROGRESS');
    ecsMock.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: arn });

    const rollback = await rollBack();

    expect(ecsMock).toHaveReceivedCommandWith(StopServiceDeploymentCommand, { stopType: 'ROLLBACK' });
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(rollback).toMatchObject({
      deploymentId: deployment.deploymentId,
      revision: live.revision,
      previousRevision: deployment.revision,
      watch: { expect: 'ROLLBACK_SUCCESSFUL', gated: false, waitSeconds: 30, rechecksLeft: 30 },
    });
  });

  it('follows a rollback ECS already runs, without stopping it again', async () => {
    deploymentIs('ROLLBACK_IN_PROGRESS');

    const rollback = await rollBack();

    expect(ecsMock).not.toHaveReceivedCommand(StopServiceDeploymentCommand);
    expect(rollback.watch?.expect).toBe('ROLLBACK_SUCCESSFUL');
  });

  it('deploys the recorded release again when the deployment had already succeeded', async () => {
    deploymentIs('SUCCESSFUL');
    const service = serviceOf();
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(service));
    ecsMock.on(UpdateServiceCommand).resolves({
      service: {
        ...service,
        deploymentConfiguration: { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 30 },
        currentServiceDeployment: `${arn}-next`,
        deployments: [{ id: 'ecs-svc/next', status: 'PRIMARY' }],
      },
    });

    const rollback = await rollBack();

    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { taskDefinition: live.revision });
    expect(rollback).toMatchObject({
      deploymentId: 'ecs-svc/next',
      // Armed for its 30-minute bake plus the 900-second health budget.
      watch: {
        serviceDeploymentArn: `${arn}-next`,
        expect: 'SUCCESSFUL',
        gated: false,
        waitSeconds: 30 * 60 + 900,
      },
    });
  });

  it.each(['ROLLBACK_FAILED', 'STOPPED'] as const)(
    'needs a person when the deployment is %s',
    async (status) => {
      deploymentIs(status);

      await expect(rollBack()).rejects.toMatchObject({ name: 'RolloutNeedsOperator' });
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    },
  );
});

describe('rolling back a staged deployment, by status', () => {
  it.each(['PENDING', 'ROLLBACK_REQUESTED', 'ROLLBACK_SUCCESSFUL'] as const)(
    'rolls back in place when the deployment is %s, deploying nothing',
    async (status) => {
      // Prepare
      deploymentIs(status);
      ecsMock.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: arn });

      // Act
      const rollback = await rollBack();

      // Assess
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      expect(rollback).toMatchObject({ revision: live.revision, watch: { expect: 'ROLLBACK_SUCCESSFUL' } });
    },
  );

  it('names the status ECS reports now when a person must step in', async () => {
    // Prepare: STOPPED when first read, ROLLBACK_FAILED by the time Gantry says so.
    ecsMock
      .on(DescribeServiceDeploymentsCommand)
      .resolvesOnce({ serviceDeployments: [{ serviceDeploymentArn: arn, status: 'STOPPED' }] })
      .resolves({ serviceDeployments: [{ serviceDeploymentArn: arn, status: 'ROLLBACK_FAILED' }] });

    // Act / Assess
    await expect(rollBack()).rejects.toMatchObject({
      name: 'RolloutNeedsOperator',
      message: `service deployment ${arn} is ROLLBACK_FAILED: Gantry cannot roll it back; a person must check what runs`,
    });
  });
});
