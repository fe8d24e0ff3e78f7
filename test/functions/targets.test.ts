import {
  DescribeServicesCommand,
  ECSClient,
  ListTasksCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCheckRolloutHandler } from '../../functions/handlers/check-rollout.ts';
import type { RolloutWaitDependencies } from '../../functions/handlers/clients.ts';
import { createRollbackHandler } from '../../functions/handlers/rollback.ts';
import { createWaitForRolloutHandler } from '../../functions/handlers/wait-for-rollout.ts';
import { deployConfigSchema } from '../../functions/src/config/schema.ts';
import { readRolloutWait } from '../../functions/src/coordination/waits.ts';
import type { DeployState } from '../../functions/src/deploy-state.ts';
import { rolloutWaitSchema } from '../../functions/src/ecs/rollout.ts';
import { targetFor } from '../../functions/src/targets/target.ts';
import { lambdaContext } from '../../sandbox/runner.ts';
import {
  describeServicesResponse,
  ecsTargetClients,
  serviceOf,
  serviceRollingOut,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';
import { deployment, lambdaFailure, planOf, rollbackDeploymentId } from '../support/deploy-states.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/*
 * The target seam: the state machine's steps reach a target only through targetFor, with the
 * clients the handler factory was given, and read what they need from `$.deployment`.
 */

const ecsMock = mockClient(ECSClient);
const sfnMock = mockClient(SFNClient);
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: RolloutWaitDependencies;

beforeEach(() => {
  table = fakeCoordinationTable();
  deps = {
    table: table.table,
    sfn: new SFNClient({ region: story.region }),
    now: () => new Date('2025-06-03T10:16:00Z'),
    targets: ecsTargetClients(new ECSClient({ region: story.region })),
  };
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
  sfnMock.on(SendTaskSuccessCommand).resolves({});
});

afterEach(() => {
  ecsMock.reset();
  sfnMock.reset();
  table.mock.reset();
});

describe('targetFor', () => {
  it('gives the ECS target for an ecs config, reading what the service runs now', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));

    const live = await targetFor(webConfig, deps.targets).readLive();

    expect(live).toEqual({ revision: story.taskDefinitionArn, deploymentInProgress: story.deploymentId });
  });

  it('refuses a config whose target type no module serves', () => {
    const parsed = deployConfigSchema.safeParse({ ...webConfig, target: { type: 'nomad', job: 'web' } });

    expect(parsed.success).toBe(false);
  });
});

describe('WaitForRollout', () => {
  it('parks the token with what the ECS event handler needs, read from $.deployment and the config', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));
    const handler = createWaitForRolloutHandler(deps);

    // Act
    const result = await handler(
      { taskToken: 'token-1', deployment, config: webConfig, timeoutSeconds: 900 },
      lambdaContext('waitForRollout'),
    );

    // Assess
    expect(result).toEqual({ outcome: 'pending' });
    await expect(readRolloutWait(deps, story.deploymentId, rolloutWaitSchema)).resolves.toEqual({
      taskToken: 'token-1',
      deploymentId: story.deploymentId,
      timeoutSeconds: 900,
      cluster: webConfig.target.cluster,
      service: webConfig.target.service,
      maxFailedTasks: webConfig.health.maxFailedTasks,
    });
  });
});

describe('CheckRollout', () => {
  it('asks the target itself once the time is up, and completes when its rollout did', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('COMPLETED')));
    const handler = createCheckRolloutHandler(deps);

    // Act
    const result = await handler({ deployment, config: webConfig }, lambdaContext('checkRollout'));

    // Assess
    expect(result).toEqual({ rolloutState: 'COMPLETED', deploymentId: story.deploymentId });
    expect(ecsMock).toHaveReceivedCommandWith(DescribeServicesCommand, {
      cluster: webConfig.target.cluster,
      services: [webConfig.target.service],
    });
  });
});

describe('executions started before the seam', () => {
  it('roll back a first deploy to the revision their old-shape $.deployment names', async () => {
    // Prepare: the state an old execution carries: ECS field names, no recorded release.
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));
    ecsMock.on(UpdateServiceCommand).resolves({
      service: serviceOf({ deployments: [{ id: rollbackDeploymentId, status: 'PRIMARY' }] }),
    });
    const oldState = {
      plan: planOf({ live: null, livePrevious: null }),
      deployment: {
        deploymentId: story.deploymentId,
        taskDefinitionArn: story.taskDefinitionArn,
        previousTaskDefinitionArn: story.previousTaskDefinitionArn,
      },
      failure: lambdaFailure(),
    } as unknown as DeployState;

    // Act
    const rollback = await createRollbackHandler(deps)(oldState, lambdaContext('rollback'));

    // Assess
    expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
      cluster: webConfig.target.cluster,
      service: webConfig.target.service,
      taskDefinition: story.previousTaskDefinitionArn,
    });
    expect(rollback).toMatchObject({ target: 'ecs', revision: story.previousTaskDefinitionArn });
  });

  it('check their rollout from the old ECS parameters', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('COMPLETED')));
    const oldParameters = {
      cluster: webConfig.target.cluster,
      service: webConfig.target.service,
      deploymentId: story.deploymentId,
      maxFailedTasks: 2,
    };

    // Act
    const result = await createCheckRolloutHandler(deps)(oldParameters, lambdaContext('checkRollout'));

    // Assess
    expect(result).toEqual({ rolloutState: 'COMPLETED', deploymentId: story.deploymentId });
  });
});
