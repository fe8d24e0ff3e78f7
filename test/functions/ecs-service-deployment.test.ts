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
import { throttled, transientWhile } from '../support/throttling.ts';

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
    expect(rearm(watch, 'POST_PRODUCTION_TRAFFIC_SHIFT', 600).waitSeconds).toBe(900 + 600);
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
      expect.objectContaining({
        name: 'GateHooksMissing',
        message: expect.stringContaining('uses the ROLLING strategy'),
      }),
    );
  });
});

describe('a staged deployment watch, by strategy', () => {
  it('takes ten linear steps when the service names no step percent (the ECS default)', () => {
    expect(trafficSteps('LINEAR', undefined)).toBe(10);
    expect(trafficSteps('LINEAR', {})).toBe(10);
  });

  it("arms a canary's first wait for its canary bake, ungated without gates in the config", () => {
    // Act
    const canary = watchFor(
      {
        deploymentConfiguration: {
          strategy: 'CANARY',
          canaryConfiguration: { canaryBakeTimeInMinutes: 1.5 },
        },
      },
      'CANARY',
      arn,
      { gates: undefined, healthSeconds: 300 },
    );

    // Assess
    expect(canary).toEqual({
      serviceDeploymentArn: arn,
      strategy: 'CANARY',
      expect: 'SUCCESSFUL',
      gated: false,
      stepBakeSeconds: 90,
      bakeSeconds: 0,
      waitSeconds: 90 + 300,
      rechecksLeft: 2 + 2,
      gates: [],
    });
  });

  it("arms a blue/green's first wait for the whole bake: it has no steps", () => {
    // Act
    const blueGreen = watchFor(
      { deploymentConfiguration: { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 5 } },
      'BLUE_GREEN',
      arn,
      { gates: { alarms: [] }, healthSeconds: 300 },
    );

    // Assess
    expect(blueGreen).toMatchObject({
      gated: true,
      stepBakeSeconds: 0,
      bakeSeconds: 300,
      waitSeconds: 600,
      rechecksLeft: 3,
    });
  });

  it('never arms a timer below one second, the least Step Functions waits', () => {
    // Act
    const instant = watchFor({}, 'LINEAR', arn, { gates: undefined, healthSeconds: 0 });
    const unconfigured = watchFor({ deploymentConfiguration: {} }, 'LINEAR', arn, {
      gates: undefined,
      healthSeconds: 0,
    });

    // Assess
    expect(instant.waitSeconds).toBe(1);
    expect(unconfigured.waitSeconds).toBe(1);
  });
});

describe('judgeServiceDeployment, how it says what happened', () => {
  it.each([
    [{ statusReason: 'Lifecycle hook failed' }, 'ECS rolled the deployment back: Lifecycle hook failed'],
    [{}, 'ECS rolled the deployment back: no reason given'],
  ])('names why ECS rolled back, or that it gave no reason (%j)', async (reason, message) => {
    // Prepare
    deploymentIs({ status: 'ROLLBACK_SUCCESSFUL', ...reason });

    // Act
    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    // Assess
    expect(judgement).toEqual({
      outcome: 'failed',
      error: 'RolloutFailed',
      message,
      deploymentId: 'ecs-svc/1234',
      serviceDeploymentArn: arn,
      status: 'ROLLBACK_SUCCESSFUL',
      ecsRolledBack: true,
      stoppedTasks: [],
    });
  });

  it.each([
    [{ statusReason: 'Lifecycle hook failed' }, 'ECS is rolling the deployment back: Lifecycle hook failed'],
    [{}, 'ECS is rolling the deployment back: no reason given'],
  ])('names why ECS is rolling back, or that it gave no reason (%j)', async (reason, message) => {
    // Prepare
    deploymentIs({ status: 'ROLLBACK_REQUESTED', ...reason });

    // Act
    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    // Assess
    expect(judgement).toMatchObject({
      outcome: 'failed',
      error: 'RolloutFailed',
      message,
      ecsRolledBack: true,
    });
  });

  it('says a stopped deployment needs a person, with ECS’s reason, and that ECS did not roll it back', async () => {
    // Prepare
    deploymentIs({ status: 'STOPPED', statusReason: 'stopped by a user' });

    // Act
    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    // Assess
    expect(judgement).toMatchObject({
      error: 'RolloutNeedsOperator',
      message: 'service deployment ended STOPPED: stopped by a user; a person must check what runs',
      ecsRolledBack: false,
    });
  });

  it('says a rollback ECS finished forward instead needs a person', async () => {
    // Prepare: Gantry asked for a rollback, ECS completed the deployment.
    deploymentIs({ status: 'SUCCESSFUL' });
    const rollingBack = { ...where, watch: { ...watch, expect: 'ROLLBACK_SUCCESSFUL' as const } };

    // Act
    const judgement = await judgeServiceDeployment(ecs, rollingBack, { deadlinePassed: false });

    // Assess
    expect(judgement).toMatchObject({
      error: 'RolloutNeedsOperator',
      message: 'service deployment ended SUCCESSFUL; a person must check what runs',
    });
  });

  it('counts the stopped tasks an event described before ListTasks lists them', async () => {
    // Prepare
    deploymentIs({ status: 'PENDING' });
    const observed = [
      { taskArn: 't1', stopCode: 'TaskFailedToStart', containers: [] },
      { taskArn: 't2', stopCode: 'TaskFailedToStart', containers: [] },
    ];

    // Act
    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false, observed });

    // Assess
    expect(judgement).toMatchObject({
      error: 'RolloutFailed',
      message: '2 task(s) of the new revision stopped (limit 2) at an unknown stage',
      stoppedTasks: observed,
    });
  });

  it('judges no stopped tasks while following a rollback it requested', async () => {
    // Prepare
    deploymentIs({ status: 'IN_PROGRESS' });
    const rollingBack = { ...where, watch: { ...watch, expect: 'ROLLBACK_SUCCESSFUL' as const } };
    const observed = [
      { taskArn: 't1', stopCode: 'TaskFailedToStart', containers: [] },
      { taskArn: 't2', stopCode: 'TaskFailedToStart', containers: [] },
    ];

    // Act
    const judgement = await judgeServiceDeployment(ecs, rollingBack, { deadlinePassed: false, observed });

    // Assess
    expect(judgement).toEqual({ outcome: 'pending' });
    expect(ecsMock).not.toHaveReceivedCommand(ListTasksCommand);
  });

  it('stops at no hook while the deployment is PENDING, nor at one that is not a PAUSE hook', async () => {
    // Prepare
    const awaiting = {
      hookId: 'ecs-pause-new',
      targetType: 'PAUSE' as const,
      status: 'AWAITING_ACTION' as const,
    };
    const lambdaHook = {
      hookId: 'lambda-hook',
      targetType: 'AWS_LAMBDA' as const,
      status: 'AWAITING_ACTION' as const,
    };

    // Act
    deploymentIs({ status: 'PENDING', lifecycleHookDetails: [awaiting] });
    const pending = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });
    deploymentIs({ status: 'IN_PROGRESS', lifecycleHookDetails: [lambdaHook] });
    const lambda = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    // Assess
    expect(pending).toEqual({ outcome: 'pending' });
    expect(lambda).toEqual({ outcome: 'pending' });
  });

  it('names the stage UNKNOWN at a gate ECS gave no stage for', async () => {
    // Prepare
    deploymentIs({
      status: 'IN_PROGRESS',
      lifecycleHookDetails: [{ hookId: 'ecs-pause-new', targetType: 'PAUSE', status: 'AWAITING_ACTION' }],
    });

    // Act
    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    // Assess
    expect(judgement).toMatchObject({ outcome: 'gate', lifecycleStage: 'UNKNOWN' });
  });

  it('says where a deployment stood when it timed out', async () => {
    // Prepare
    deploymentIs({ status: 'IN_PROGRESS', lifecycleStage: 'BAKE_TIME' });

    // Act
    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: true });

    // Assess
    expect(judgement).toMatchObject({
      error: 'RolloutTimedOut',
      message: 'the service deployment is still IN_PROGRESS at BAKE_TIME after its expected end',
      ecsRolledBack: false,
    });
  });

  it('says which service deployment ECS does not know, with its reason', async () => {
    // Prepare: a failure names the ARN and the reason MISSING (ECS API model,
    // DescribeServiceDeploymentsResponse.failures in @aws-sdk/client-ecs).
    ecsMock.on(DescribeServiceDeploymentsCommand).resolves({
      serviceDeployments: [],
      failures: [{ arn, reason: 'MISSING' }],
    });

    // Act / Assess
    await expect(judgeServiceDeployment(ecs, where, { deadlinePassed: false })).rejects.toMatchObject({
      name: 'RolloutNeedsOperator',
      message: `ECS does not know service deployment ${arn}: MISSING`,
    });
    ecsMock.on(DescribeServiceDeploymentsCommand).resolves({});
    await expect(judgeServiceDeployment(ecs, where, { deadlinePassed: false })).rejects.toMatchObject({
      message: `ECS does not know service deployment ${arn}: not found`,
    });
  });
});

describe('stopWithRollback, when ECS refuses the stop', () => {
  it('stops a PENDING deployment too, and accepts an InvalidParameterException: it began rolling back meanwhile', async () => {
    // Prepare
    deploymentIs({ status: 'PENDING' });
    ecsMock
      .on(StopServiceDeploymentCommand)
      .rejects(
        Object.assign(new Error('rolling back'), { name: 'InvalidParameterException', $metadata: {} }),
      );

    // Act / Assess
    await expect(stopWithRollback(ecs, arn)).resolves.toBe('PENDING');
    expect(ecsMock).toHaveReceivedCommand(StopServiceDeploymentCommand);
  });

  it('fails with the error ECS gave for any other refusal', async () => {
    // Prepare
    deploymentIs({ status: 'IN_PROGRESS' });
    ecsMock
      .on(StopServiceDeploymentCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: {} }));

    // Act / Assess
    await expect(stopWithRollback(ecs, arn)).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });
});

describe('requireGateHooks, what it tells the person', () => {
  it('names the service, its strategy and what gates need', () => {
    // Prepare
    const rolling: Service = { deploymentConfiguration: { strategy: 'ROLLING' } };

    // Act / Assess
    expect(() => requireGateHooks(rolling, target)).toThrow(
      'ECS service prod/web uses the ROLLING strategy: gates need BLUE_GREEN, LINEAR or CANARY with PAUSE hooks at POST_TEST_TRAFFIC_SHIFT, PRE_PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT',
    );
  });

  it('counts only PAUSE hooks, and names every stage without one', () => {
    // Prepare: a Lambda hook at the gate stages answers by itself; it is no pause for Gantry.
    const lambdaHooked = {
      deploymentConfiguration: {
        strategy: 'LINEAR',
        lifecycleHooks: [
          { targetType: 'AWS_LAMBDA', lifecycleStages: [...gateStages] },
          { targetType: 'PAUSE' },
        ],
      },
    } as Service;

    // Act / Assess
    expect(() => requireGateHooks(lambdaHooked, target)).toThrow(
      `ECS service prod/web has no PAUSE lifecycle hook at POST_TEST_TRAFFIC_SHIFT, PRE_PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT: add them to the service's deploymentConfiguration.lifecycleHooks (README, "Gates") or remove gates from the config`,
    );
  });

  it('refuses a staged service without any lifecycle hook', () => {
    // Act / Assess
    expect(() => requireGateHooks({ deploymentConfiguration: { strategy: 'BLUE_GREEN' } }, target)).toThrow(
      expect.objectContaining({ name: 'GateHooksMissing' }),
    );
  });
});

describe('judgeServiceDeployment, more of what it says', () => {
  it("names ECS's reason, not an earlier CONTINUE of Gantry's, when ECS rolled back by itself", async () => {
    // Prepare: Gantry let the first gate pass; a hook timed out later.
    deploymentIs({ status: 'ROLLBACK_SUCCESSFUL', rollback: { reason: 'Lifecycle hook timed out' } });
    const passed = {
      ...watch,
      gates: [
        {
          hookId: 'h',
          lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
          action: 'CONTINUE' as const,
          reasons: ['no alarm in ALARM (web-5xx)'],
          decidedAt: '2026-12-03T10:00:00.000Z',
          sent: true,
        },
      ],
    };

    // Act
    const judgement = await judgeServiceDeployment(
      ecs,
      { ...where, watch: passed },
      { deadlinePassed: false },
    );

    // Assess
    expect(judgement).toMatchObject({ message: 'ECS rolled the deployment back: Lifecycle hook timed out' });
  });

  it("joins every reason of Gantry's ROLLBACK", async () => {
    // Prepare
    deploymentIs({ status: 'ROLLBACK_IN_PROGRESS' });
    const refused = {
      ...watch,
      gates: [
        {
          hookId: 'h',
          lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
          action: 'ROLLBACK' as const,
          reasons: ['alarm web-5xx is in ALARM', '2 task(s) of the new revision stopped (limit 2)'],
          decidedAt: '2026-12-03T10:00:00.000Z',
          sent: true,
        },
      ],
    };

    // Act
    const judgement = await judgeServiceDeployment(
      ecs,
      { ...where, watch: refused },
      { deadlinePassed: false },
    );

    // Assess
    expect(judgement).toMatchObject({
      message:
        "Gantry's gate at POST_TEST_TRAFFIC_SHIFT answered ROLLBACK: alarm web-5xx is in ALARM; 2 task(s) of the new revision stopped (limit 2)",
    });
  });

  it('says the stage is unknown, and the status UNKNOWN, when ECS names neither at the deadline', async () => {
    // Prepare: status and lifecycleStage are optional in the ECS API model (ServiceDeployment).
    deploymentIs({});

    // Act
    const judgement = await judgeServiceDeployment(ecs, where, { deadlinePassed: true });

    // Assess
    expect(judgement).toMatchObject({
      error: 'RolloutTimedOut',
      message: 'the service deployment is still UNKNOWN at an unknown stage after its expected end',
    });
  });

  it('asks DescribeServiceDeployments for the watched deployment', async () => {
    // Prepare
    deploymentIs({ status: 'SUCCESSFUL' });

    // Act
    await judgeServiceDeployment(ecs, where, { deadlinePassed: false });

    // Assess
    expect(ecsMock).toHaveReceivedCommandWith(DescribeServiceDeploymentsCommand, {
      serviceDeploymentArns: [arn],
    });
  });

  it.each([
    [
      'describing the service deployment',
      DescribeServiceDeploymentsCommand,
      () => stopWithRollback(ecs, arn),
    ],
    ['stopping the service deployment', StopServiceDeploymentCommand, () => stopWithRollback(ecs, arn)],
  ] as const)(
    'fails with TransientAwsError saying it was %s when ECS throttles',
    async (doing, command, act) => {
      // Prepare
      deploymentIs({ status: 'IN_PROGRESS' });
      ecsMock.on(command as typeof StopServiceDeploymentCommand).rejects(throttled());

      // Act / Assess
      await expect(act()).rejects.toMatchObject(transientWhile(doing));
    },
  );
});
