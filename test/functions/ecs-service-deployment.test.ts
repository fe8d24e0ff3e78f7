import {
  DescribeServiceDeploymentsCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  type Service,
  type ServiceDeployment,
  StopServiceDeploymentCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EcsTarget } from '../../functions/src/config/schema.ts';
import {
  gateStages,
  judgeServiceDeployment,
  rearm,
  requireGateHooks,
  type ServiceDeploymentWatch,
  stopWithRollback,
  trafficSteps,
  watchFor,
} from '../../functions/src/ecs/service-deployment.ts';

/*
 * Following an ECS blue/green, linear or canary deployment: DescribeServiceDeployments is the truth.
 */

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: 'eu-west-1' });
const arn = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/r9i43YFjvgF_xlg7m2eJ1r';
const target: EcsTarget = { type: 'ecs', cluster: 'prod', service: 'web', container: 'app' };
const linearService: Service = {
  deploymentConfiguration: {
    strategy: 'LINEAR',
    linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: 2 },
    bakeTimeInMinutes: 15,
  },
};
const watch: ServiceDeploymentWatch = watchFor(linearService, 'LINEAR', arn, {
  gates: { alarms: [] },
  healthSeconds: 600,
});
const where = { cluster: 'prod', deploymentId: 'ecs-svc/1234', maxFailedTasks: 2, watch };

function deploymentIs(deployment: ServiceDeployment) {
  ecsMock
    .on(DescribeServiceDeploymentsCommand)
    .resolves({ serviceDeployments: [{ serviceDeploymentArn: arn, ...deployment }] });
}

beforeEach(() => {
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
});
afterEach(() => {
  ecsMock.reset();
});

describe('a staged deployment watch', () => {
  it('counts the traffic steps of each strategy', () => {
    expect(trafficSteps('LINEAR', { linearConfiguration: { stepPercent: 30 } })).toBe(4);
    expect(trafficSteps('CANARY', {})).toBe(2);
    expect(trafficSteps('BLUE_GREEN', {})).toBe(1);
  });

  it('sets the timer at the next step bake plus the health budget, re-checks bounded by the steps', () => {
    expect(watch).toMatchObject({
      waitSeconds: 120 + 600,
      rechecksLeft: 12,
      stepBakeSeconds: 120,
      bakeSeconds: 900,
    });
  });

  it('sets the timer at the final bake once production traffic has shifted', () => {
    expect(rearm(watch, 'BAKE_TIME', 600).waitSeconds).toBe(900 + 600);
  });
});

describe('judgeServiceDeployment', () => {
  it('records SUCCESSFUL as completed', async () => {
    deploymentIs({ status: 'SUCCESSFUL' });

    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    expect(judgement).toEqual({ outcome: 'completed', deploymentId: 'ecs-svc/1234' });
  });

  it('records ROLLBACK_SUCCESSFUL as a failed rollout ECS already rolled back, with its reason', async () => {
    deploymentIs({ status: 'ROLLBACK_SUCCESSFUL', rollback: { reason: 'Lifecycle hook timed out' } });

    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    expect(judgement).toMatchObject({
      outcome: 'failed',
      error: 'RolloutFailed',
      ecsRolledBack: true,
      message: 'ECS rolled the deployment back: Lifecycle hook timed out',
    });
  });

  it('fails the forward rollout at once when ECS is already rolling back, so Rollback follows it', async () => {
    deploymentIs({ status: 'ROLLBACK_IN_PROGRESS', rollback: { reason: 'Lifecycle hook timed out' } });

    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    expect(judgement).toMatchObject({
      outcome: 'failed',
      error: 'RolloutFailed',
      ecsRolledBack: true,
      message: 'ECS is rolling the deployment back: Lifecycle hook timed out',
    });
  });

  it('waits for a rollback Gantry requested until ROLLBACK_SUCCESSFUL', async () => {
    deploymentIs({ status: 'ROLLBACK_IN_PROGRESS' });
    const rollingBack = { ...where, watch: { ...watch, expect: 'ROLLBACK_SUCCESSFUL' as const } };

    const judgement = await judgeServiceDeployment(ecs, rollingBack, { deadlinePassed: false });

    expect(judgement).toMatchObject({ outcome: 'pending' });
  });

  it.each(['ROLLBACK_FAILED', 'STOPPED'])('records %s as needing a person', async (status) => {
    deploymentIs({ status: status as ServiceDeployment['status'], statusReason: 'why' });

    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    expect(judgement).toMatchObject({ outcome: 'failed', error: 'RolloutNeedsOperator', status });
  });

  it('stops at a pause hook awaiting action when Gantry decides the gates', async () => {
    deploymentIs({
      status: 'IN_PROGRESS',
      lifecycleStage: 'PRE_PRODUCTION_TRAFFIC_SHIFT' as ServiceDeployment['lifecycleStage'],
      lifecycleHookDetails: [
        { hookId: 'ecs-pause-old', targetType: 'PAUSE', status: 'SUCCEEDED' },
        { hookId: 'ecs-pause-new', targetType: 'PAUSE', status: 'AWAITING_ACTION' },
      ],
    });

    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    expect(judgement).toEqual({
      outcome: 'gate',
      deploymentId: 'ecs-svc/1234',
      hookId: 'ecs-pause-new',
      lifecycleStage: 'PRE_PRODUCTION_TRAFFIC_SHIFT',
    });
  });

  it('leaves a pause hook to others when the config has no gates', async () => {
    deploymentIs({
      status: 'IN_PROGRESS',
      lifecycleHookDetails: [{ hookId: 'ecs-pause-new', targetType: 'PAUSE', status: 'AWAITING_ACTION' }],
    });

    const judgement = await judgeServiceDeployment(
      ecs,
      { ...where, watch: { ...watch, gated: false } },
      { deadlinePassed: false },
    );

    expect(judgement).toMatchObject({ outcome: 'pending' });
  });

  it('fails fast when stopped tasks of the new revision reach maxFailedTasks, between gates', async () => {
    deploymentIs({ status: 'IN_PROGRESS', lifecycleStage: 'BAKE_TIME' });
    ecsMock.on(ListTasksCommand).resolves({ taskArns: ['t1', 't2', 't3'] });
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: 't1', stopCode: 'EssentialContainerExited' },
        { taskArn: 't2', stopCode: 'EssentialContainerExited' },
        // An old task the scheduler stopped during clean-up does not count.
        { taskArn: 't3', stopCode: 'ServiceSchedulerInitiated' },
      ],
    });

    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    expect(judgement).toMatchObject({
      outcome: 'failed',
      error: 'RolloutFailed',
      message: '2 task(s) of the new revision stopped (limit 2) at BAKE_TIME',
    });
  });

  it('times out a deployment still running at its deadline, and waits before it', async () => {
    deploymentIs({
      status: 'IN_PROGRESS',
      lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT' as ServiceDeployment['lifecycleStage'],
    });

    const before = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });
    const after = await judgeServiceDeployment(ecs, where, { deadlinePassed: true });

    expect(before).toEqual({ outcome: 'pending', lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT' });
    expect(after).toMatchObject({ outcome: 'failed', error: 'RolloutTimedOut' });
  });

  it("names the gate's reasons when Gantry's own ROLLBACK rolled it back", async () => {
    deploymentIs({
      status: 'ROLLBACK_SUCCESSFUL',
      rollback: { reason: 'ContinueServiceDeployment ROLLBACK' },
    });
    const decided = {
      ...watch,
      gates: [
        {
          hookId: 'h',
          lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
          action: 'ROLLBACK' as const,
          reasons: ['alarm web-5xx is in ALARM'],
          decidedAt: '2026-12-03T10:00:00.000Z',
          sent: true,
        },
      ],
    };

    const judgement = await judgeServiceDeployment(
      ecs,
      { ...where, watch: decided },
      { deadlinePassed: false },
    );

    expect(judgement).toMatchObject({
      message: "Gantry's gate at POST_TEST_TRAFFIC_SHIFT answered ROLLBACK: alarm web-5xx is in ALARM",
    });
  });
});

describe('stopWithRollback', () => {
  it('stops an unfinished deployment with ROLLBACK', async () => {
    deploymentIs({ status: 'IN_PROGRESS' });
    ecsMock.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: arn });

    await expect(stopWithRollback(ecs, arn)).resolves.toBe('IN_PROGRESS');

    expect(ecsMock).toHaveReceivedCommandWith(StopServiceDeploymentCommand, {
      serviceDeploymentArn: arn,
      stopType: 'ROLLBACK',
    });
  });

  it('leaves a deployment that is already rolling back as it is', async () => {
    deploymentIs({ status: 'ROLLBACK_IN_PROGRESS' });

    await expect(stopWithRollback(ecs, arn)).resolves.toBe('ROLLBACK_IN_PROGRESS');

    expect(ecsMock).not.toHaveReceivedCommand(StopServiceDeploymentCommand);
  });

  it('accepts a ConflictException: the deployment finished between the read and the stop', async () => {
    deploymentIs({ status: 'IN_PROGRESS' });
    ecsMock
      .on(StopServiceDeploymentCommand)
      .rejects(Object.assign(new Error('finished'), { name: 'ConflictException', $metadata: {} }));

    await expect(stopWithRollback(ecs, arn)).resolves.toBe('IN_PROGRESS');
  });
});

describe('requireGateHooks', () => {
  const hooks = (stages: string[]) =>
    ({
      deploymentConfiguration: {
        strategy: 'CANARY',
        lifecycleHooks: [{ targetType: 'PAUSE', lifecycleStages: stages }],
      },
    }) as Service;

  it('accepts a staged service with PAUSE hooks at every gate stage', () => {
    expect(() => requireGateHooks(hooks([...gateStages]), target)).not.toThrow();
  });

  it('refuses a service missing a pause hook, naming the stage', () => {
    expect(() => requireGateHooks(hooks(['POST_TEST_TRAFFIC_SHIFT']), target)).toThrow(
      expect.objectContaining({
        name: 'GateHooksMissing',
        message: expect.stringContaining('PRE_PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT'),
      }),
    );
  });

  it('refuses a rolling service', () => {
    expect(() => requireGateHooks({}, target)).toThrow(
      expect.objectContaining({ name: 'GateHooksMissing', message: expect.stringContaining('ROLLING') }),
    );
  });
});
