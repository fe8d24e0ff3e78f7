import {
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  ECSClient,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerRolloutWait } from '../../functions/src/coordination/waits.ts';
import { handleEcsEvent } from '../../functions/src/ecs/events.ts';
import type { RolloutDependencies } from '../../functions/src/ecs/rollout.ts';
import { watchFor } from '../../functions/src/ecs/service-deployment.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/*
 * "ECS Hook State Change" only wakes Gantry up: the execution waiting on the service deployment
 * resumes with what DescribeServiceDeployments says.
 */

const ecsMock = mockClient(ECSClient);
const sfnMock = mockClient(SFNClient);
const cluster = 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod';
const service = 'arn:aws:ecs:eu-west-1:123456789012:service/prod/web';
const current = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/current0000000000000';
const superseded = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/older00000000000000';
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: RolloutDependencies;

/** The event as the pause hooks page shows it: no `resources`. */
function hookEvent(serviceDeploymentArn: string) {
  return {
    version: '0',
    id: 'a1b2c3d4-0000-4000-8000-000000000001',
    'detail-type': 'ECS Hook State Change',
    source: 'aws.ecs',
    account: '123456789012',
    time: '2026-12-03T10:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: {
      eventType: 'INFO',
      eventName: 'HOOK_AWAITING_ACTION',
      hookId: 'ecs-pause-e7tK9G_WRJqNF_EOMjztDXfKenlJuEUVjsNStf4WLKw',
      hookType: 'PAUSE',
      lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
      clusterArn: cluster,
      serviceArn: service,
      serviceDeploymentArn,
    },
  };
}

beforeEach(async () => {
  table = fakeCoordinationTable();
  deps = {
    table: table.table,
    sfn: new SFNClient({ region: 'eu-west-1' }),
    ecs: new ECSClient({ region: 'eu-west-1' }),
    now: () => new Date('2026-12-03T10:00:00Z'),
  };
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
  ecsMock.on(DescribeServicesCommand).resolves({
    services: [
      {
        status: 'ACTIVE',
        currentServiceDeployment: current,
        deployments: [{ id: 'ecs-svc/1234', status: 'PRIMARY' }],
      },
    ],
  });
  ecsMock.on(DescribeServiceDeploymentsCommand).resolves({
    serviceDeployments: [
      {
        serviceDeploymentArn: current,
        status: 'IN_PROGRESS',
        lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
        lifecycleHookDetails: [
          {
            hookId: 'ecs-pause-e7tK9G_WRJqNF_EOMjztDXfKenlJuEUVjsNStf4WLKw',
            targetType: 'PAUSE',
            status: 'AWAITING_ACTION',
          },
        ],
      },
    ],
  });
  const watch = watchFor(
    { deploymentConfiguration: { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 5 } },
    'BLUE_GREEN',
    current,
    {
      gates: { alarms: [] },
      healthSeconds: 600,
    },
  );
  await registerRolloutWait(
    deps,
    {
      taskToken: 'token-deploy',
      deploymentId: 'ecs-svc/1234',
      cluster: 'prod',
      service: 'web',
      maxFailedTasks: 2,
      watch,
    },
    async () => ({ outcome: 'pending' as const }),
  );
});
afterEach(() => {
  table.mock.reset();
  ecsMock.reset();
  sfnMock.reset();
});

describe('ECS Hook State Change', () => {
  it('resumes the execution waiting on the current service deployment to decide its gate', async () => {
    const outcome = await handleEcsEvent(deps, hookEvent(current));

    expect(outcome).toEqual({ action: 'resumed', deploymentId: 'ecs-svc/1234', outcome: 'gate' });
    expect(JSON.parse(sfnMock.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.output ?? '{}')).toEqual(
      {
        rolloutState: 'GATE',
        deploymentId: 'ecs-svc/1234',
        hookId: 'ecs-pause-e7tK9G_WRJqNF_EOMjztDXfKenlJuEUVjsNStf4WLKw',
        lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
      },
    );
  });

  it('ignores a hook of a service deployment that is no longer current', async () => {
    const outcome = await handleEcsEvent(deps, hookEvent(superseded));

    expect(outcome).toMatchObject({ action: 'ignored' });
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('resumes only once when the event is delivered twice', async () => {
    await handleEcsEvent(deps, hookEvent(current));
    const again = await handleEcsEvent(deps, hookEvent(current));

    expect(again).toMatchObject({ action: 'ignored' });
    expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
  });
});
