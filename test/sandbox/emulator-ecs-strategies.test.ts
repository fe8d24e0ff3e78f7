import {
  ContinueServiceDeploymentCommand,
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type ServiceDeployment,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STAGE_TIMEOUT_MS, trafficSteps } from '../../sandbox/emulator/ecs/index.ts';
import { parseStrategyConfig } from '../../sandbox/emulator/ecs/strategy-config.ts';
import {
  type AwsEvent,
  type Emulator,
  type JsonObject,
  startEmulator,
} from '../../sandbox/emulator/index.ts';

const START = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
let emulator: Emulator;
let ecs: ECSClient;
let events: AwsEvent[];
let registry: string;

const taskDefinition = (image: string): JsonObject => ({
  family: 'web',
  networkMode: 'awsvpc',
  requiresCompatibilities: ['FARGATE'],
  cpu: '256',
  memory: '512',
  containerDefinitions: [{ name: 'web', image, essential: true }],
});

const pauseAt = (stages: string[], timeout?: JsonObject): JsonObject => ({
  targetType: 'PAUSE',
  lifecycleStages: stages,
  ...(timeout === undefined ? {} : { timeoutConfiguration: timeout }),
});

beforeEach(async () => {
  emulator = await startEmulator({ startTime: START });
  ecs = new ECSClient({ ...emulator.clientConfig, maxAttempts: 1 });
  events = [];
  emulator.onEvent((event) => {
    events.push(event);
  });
  registry = emulator.ecr.putImage({ repository: 'web', tag: 'v1' }).imageUri.replace(/\/web:v1$/, '');
  emulator.ecr.putImage({ repository: 'web', tag: 'v2' });
  emulator.ecr.putImage({ repository: 'web', tag: 'v3' });
});

afterEach(async () => {
  ecs.destroy();
  await emulator.close();
});

function seed(deploymentConfiguration?: JsonObject, desiredCount = 2) {
  return emulator.ecs.createService({
    cluster: 'prod',
    service: 'web',
    taskDefinition: taskDefinition(`${registry}/web:v1`),
    desiredCount,
    ...(deploymentConfiguration === undefined ? {} : { deploymentConfiguration }),
  });
}

/** Registers the image's revision and points the service at it; returns UpdateService's service. */
async function update(image: string, deploymentConfiguration?: JsonObject) {
  const registered = await ecs.send(
    new RegisterTaskDefinitionCommand(
      taskDefinition(`${registry}/${image}`) as unknown as ConstructorParameters<
        typeof RegisterTaskDefinitionCommand
      >[0],
    ),
  );
  const result = await ecs.send(
    new UpdateServiceCommand({
      cluster: 'prod',
      service: 'web',
      taskDefinition: registered.taskDefinition?.taskDefinitionArn ?? '',
      ...(deploymentConfiguration === undefined ? {} : { deploymentConfiguration }),
    }),
  );
  return result.service;
}

async function deploy(image: string): Promise<string> {
  const service = await update(image);
  const arn = service?.currentServiceDeployment;
  if (arn === undefined) throw new Error('UpdateService named no service deployment');
  return arn;
}

async function describeDeployment(arn: string): Promise<ServiceDeployment> {
  const result = await ecs.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] }));
  const found = result.serviceDeployments?.[0];
  if (found === undefined) throw new Error(`no service deployment ${arn}`);
  return found;
}

function current(arn: string): JsonObject {
  const found = emulator.ecs.describeServiceDeployment(arn);
  if (found === undefined) throw new Error(`no service deployment ${arn}`);
  return found;
}

/** Runs the simulated clock until the deployment has `status` (a hang guard of `limitMs`). */
async function until(arn: string, predicate: (d: JsonObject) => boolean, limitMs = 3 * 24 * 3_600_000) {
  const held = await emulator.clock.advanceUntil(() => predicate(current(arn)), { limitMs });
  if (!held) throw new Error(`service deployment never got there: ${JSON.stringify(current(arn))}`);
}

const awaiting = (d: JsonObject): boolean =>
  Array.isArray(d.lifecycleHookDetails) &&
  d.lifecycleHookDetails.some((h) => (h as JsonObject).status === 'AWAITING_ACTION');

function awaitingHookId(arn: string): string {
  const hooks = current(arn).lifecycleHookDetails as JsonObject[];
  const hook = hooks.find((h) => h.status === 'AWAITING_ACTION');
  if (hook === undefined) throw new Error('no hook awaiting action');
  return String(hook.hookId);
}

/** The stages in the order the deployment entered them (repeats of one stage collapsed). */
function stages(arn: string): string[] {
  const seen: string[] = [];
  for (const entry of emulator.ecs.serviceDeploymentHistory(arn)) {
    if (entry.lifecycleStage !== '' && seen.at(-1) !== entry.lifecycleStage) seen.push(entry.lifecycleStage);
  }
  return seen;
}

function hookEvents(): { name: unknown; hookId: unknown; stage: unknown; resources: readonly string[] }[] {
  return events
    .filter((e) => e['detail-type'] === 'ECS Hook State Change')
    .map((e) => {
      const d = e.detail as JsonObject;
      return { name: d.eventName, hookId: d.hookId, stage: d.lifecycleStage, resources: e.resources };
    });
}

async function runningTaskArns(): Promise<string[]> {
  const listed = await ecs.send(new ListTasksCommand({ cluster: 'prod', serviceName: 'web' }));
  return [...(listed.taskArns ?? [])].sort();
}

const BLUE_GREEN = { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 10 };

describe('ECS deployment strategies: configuration', () => {
  it.each([
    ['BLUE_GREEN without bakeTimeInMinutes', { strategy: 'BLUE_GREEN' }, 'InvalidParameterException'],
    ['an unknown strategy', { strategy: 'RED_BLACK' }, 'InvalidParameterException'],
    [
      'linearConfiguration on a CANARY deployment',
      { strategy: 'CANARY', linearConfiguration: { stepPercent: 10 } },
      'InvalidParameterException',
    ],
    [
      'a step percent under 3',
      { strategy: 'LINEAR', linearConfiguration: { stepPercent: 2.5 } },
      'InvalidParameterException',
    ],
    [
      'a step percent that is not a multiple of 0.1',
      { strategy: 'LINEAR', linearConfiguration: { stepPercent: 3.05 } },
      'InvalidParameterException',
    ],
    [
      'a step bake over 24 hours',
      { strategy: 'LINEAR', linearConfiguration: { stepBakeTimeInMinutes: 1441 } },
      'InvalidParameterException',
    ],
    [
      'a pause hook at PRODUCTION_TRAFFIC_SHIFT',
      { ...BLUE_GREEN, lifecycleHooks: [pauseAt(['PRODUCTION_TRAFFIC_SHIFT'])] },
      'InvalidParameterException',
    ],
    [
      'a pause hook at TEST_TRAFFIC_SHIFT',
      { ...BLUE_GREEN, lifecycleHooks: [pauseAt(['TEST_TRAFFIC_SHIFT'])] },
      'InvalidParameterException',
    ],
    [
      'a pause hook at a stage no hook can run at',
      { ...BLUE_GREEN, lifecycleHooks: [pauseAt(['BAKE_TIME'])] },
      'InvalidParameterException',
    ],
    [
      'a pause hook timing out after more than 14 days',
      { ...BLUE_GREEN, lifecycleHooks: [pauseAt(['POST_SCALE_UP'], { timeoutInMinutes: 20_161 })] },
      'InvalidParameterException',
    ],
    [
      'a pause hook with a target',
      {
        ...BLUE_GREEN,
        lifecycleHooks: [
          {
            ...pauseAt(['POST_SCALE_UP']),
            hookTargetArn: 'arn:aws:lambda:us-east-1:000000000000:function:x',
          },
        ],
      },
      'InvalidParameterException',
    ],
    [
      'eleven pause hooks',
      { ...BLUE_GREEN, lifecycleHooks: Array.from({ length: 11 }, () => pauseAt(['POST_SCALE_UP'])) },
      'InvalidParameterException',
    ],
    [
      'a Lambda hook without a role',
      {
        ...BLUE_GREEN,
        lifecycleHooks: [
          {
            targetType: 'AWS_LAMBDA',
            hookTargetArn: 'arn:aws:lambda:us-east-1:000000000000:function:check',
            lifecycleStages: ['POST_SCALE_UP'],
          },
        ],
      },
      'InvalidParameterException',
    ],
    [
      'a Lambda hook the sandbox has no stand-in for',
      {
        ...BLUE_GREEN,
        lifecycleHooks: [
          {
            targetType: 'AWS_LAMBDA',
            hookTargetArn: 'arn:aws:lambda:us-east-1:000000000000:function:check',
            roleArn: 'arn:aws:iam::000000000000:role/ecs-hooks',
            lifecycleStages: ['POST_SCALE_UP'],
          },
        ],
      },
      'UnsupportedParameter',
    ],
    [
      'pause hooks on a ROLLING deployment (not emulated)',
      { strategy: 'ROLLING', lifecycleHooks: [pauseAt(['POST_SCALE_UP'])] },
      'UnsupportedParameter',
    ],
    ['a member the emulator does not model', { ...BLUE_GREEN, maximumPercent: 200 }, 'UnsupportedParameter'],
  ])('refuses %s and changes nothing', async (_what, configuration, error) => {
    // Prepare
    seed();
    const before = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web'] }));

    // Act
    const act = update('web:v2', configuration);

    // Assess
    await expect(act).rejects.toMatchObject({ name: error });
    const after = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web'] }));
    expect(after.services?.[0]?.taskDefinition).toBe(before.services?.[0]?.taskDefinition);
    expect(after.services?.[0]?.deploymentConfiguration).toEqual(
      before.services?.[0]?.deploymentConfiguration,
    );
  });

  it('fills the documented defaults of linear, canary and hook configurations', () => {
    // Prepare
    const hook = pauseAt(['POST_TEST_TRAFFIC_SHIFT']);

    // Act
    const linear = parseStrategyConfig({ strategy: 'LINEAR', lifecycleHooks: [hook] }, 'ECS');
    const canary = parseStrategyConfig({ strategy: 'CANARY' }, 'ECS');

    // Assess
    expect(linear.linear).toEqual({ stepPercent: 10, stepBakeTimeInMinutes: 6 });
    expect(linear.lifecycleHooks[0]).toMatchObject({ timeoutInMinutes: 1440, timeoutAction: 'ROLLBACK' });
    expect(canary.canary).toEqual({ canaryPercent: 5, canaryBakeTimeInMinutes: 10 });
  });

  it('refuses a strategy on a service another controller deploys', () => {
    // Act
    const act = () => parseStrategyConfig(BLUE_GREEN, 'CODE_DEPLOY');

    // Assess
    expect(act).toThrow(expect.objectContaining({ name: 'InvalidParameterException' }));
  });

  it('keeps a rolling service as it was: no service deployment, no strategy in DescribeServices', async () => {
    // Prepare
    seed();

    // Act
    const service = await update('web:v2');

    // Assess
    expect(service?.currentServiceDeployment).toBeUndefined();
    expect(service?.deploymentConfiguration?.strategy).toBeUndefined();
    await expect(
      ecs.send(new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'web' })),
    ).rejects.toMatchObject({ name: 'UnsupportedParameter' });
  });
});

describe('ECS deployment strategies: traffic steps', () => {
  it.each([
    [
      { strategy: 'LINEAR', linearConfiguration: { stepPercent: 10 } },
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    ],
    [{ strategy: 'LINEAR', linearConfiguration: { stepPercent: 30 } }, [30, 60, 90, 100]],
    [{ strategy: 'LINEAR', linearConfiguration: { stepPercent: 33.3 } }, [33.3, 66.6, 99.9, 100]],
    [{ strategy: 'CANARY', canaryConfiguration: { canaryPercent: 5 } }, [5, 100]],
    [BLUE_GREEN, [100]],
  ])('shifts production traffic of %j in the steps %j', (configuration, expected) => {
    // Act
    const steps = trafficSteps(parseStrategyConfig(configuration, 'ECS'));

    // Assess
    expect(steps).toEqual(expected);
  });
});

describe('ECS deployment strategies: a deployment on the simulated clock', () => {
  it('runs a blue/green deployment through the documented stages and keeps the old revision during bake', async () => {
    // Prepare
    seed(BLUE_GREEN);
    const blueTasks = await runningTaskArns();

    // Act
    const service = await update('web:v2');
    const arn = service?.currentServiceDeployment ?? '';
    await until(arn, (d) => d.lifecycleStage === 'BAKE_TIME');
    const duringBake = await runningTaskArns();
    const bakeStartedAt = emulator.clock.now();
    await until(arn, (d) => d.status === 'SUCCESSFUL');

    // Assess
    expect(service?.deploymentConfiguration).toMatchObject({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 10 });
    expect(stages(arn)).toEqual([
      'PRE_SCALE_UP',
      'SCALE_UP',
      'POST_SCALE_UP',
      'TEST_TRAFFIC_SHIFT',
      'POST_TEST_TRAFFIC_SHIFT',
      'PRE_PRODUCTION_TRAFFIC_SHIFT',
      'PRODUCTION_TRAFFIC_SHIFT',
      'POST_PRODUCTION_TRAFFIC_SHIFT',
      'BAKE_TIME',
      'CLEAN_UP',
    ]);
    expect(duringBake).toHaveLength(4);
    expect(duringBake).toEqual(expect.arrayContaining(blueTasks));
    expect(emulator.clock.now() - bakeStartedAt).toBeGreaterThanOrEqual(10 * MINUTE);
    const done = await describeDeployment(arn);
    expect(done).toMatchObject({
      status: 'SUCCESSFUL',
      lifecycleStage: 'CLEAN_UP',
      targetServiceRevision: { requestedProductionTrafficWeight: 100, runningTaskCount: 2 },
    });
    expect(done.finishedAt).toBeInstanceOf(Date);
    const greenTasks = await runningTaskArns();
    expect(greenTasks.some((t) => blueTasks.includes(t))).toBe(false);
    const described = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web'] }));
    expect(described.services?.[0]?.deployments).toHaveLength(1);
    expect(described.services?.[0]?.currentServiceDeployment).toBe(arn);
  });

  it('rolls a service switched from rolling to blue/green back to the revision its rolling update left', async () => {
    // Prepare
    seed();
    await update('web:v2');
    await emulator.clock.advance(5 * MINUTE);
    const rolledOut = await runningTaskArns();
    const service = await update('web:v3', BLUE_GREEN);
    const arn = service?.currentServiceDeployment ?? '';
    await until(arn, (d) => d.lifecycleStage === 'BAKE_TIME');

    // Act
    await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn }));
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');

    // Assess
    expect(await runningTaskArns()).toEqual(rolledOut);
    const described = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web'] }));
    expect(described.services?.[0]?.taskDefinition).toMatch(/web:2$/);
  });

  it('answers UpdateService with the new service deployment, PENDING at first', async () => {
    // Prepare
    seed(BLUE_GREEN);

    // Act
    const arn = await deploy('web:v2');

    // Assess
    expect(arn).toMatch(/^arn:aws:ecs:us-east-1:000000000000:service-deployment\/prod\/web\/[\w-]{21}$/);
    expect(await describeDeployment(arn)).toMatchObject({ status: 'PENDING', lifecycleHookDetails: [] });
  });

  it('shifts a 10-step linear deployment step by step, baking between steps but not after the last', async () => {
    // Prepare
    seed({
      strategy: 'LINEAR',
      bakeTimeInMinutes: 5,
      linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: 3 },
    });

    // Act
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.status === 'SUCCESSFUL');

    // Assess
    const history = emulator.ecs.serviceDeploymentHistory(arn);
    const shifts = history.filter((h, i) => h.productionWeight !== (history[i - 1]?.productionWeight ?? 0));
    expect(shifts.map((h) => h.productionWeight)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    const gaps = shifts.slice(1).map((h, i) => h.at - (shifts[i]?.at ?? 0));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(3 * MINUTE);
    const lastShift = shifts.at(-1)?.at ?? 0;
    const bake = history.find((h) => h.lifecycleStage === 'BAKE_TIME')?.at ?? 0;
    expect(bake - lastShift).toBeLessThan(MINUTE);
    const done = history.at(-1)?.at ?? 0;
    expect(done - bake).toBeGreaterThanOrEqual(5 * MINUTE);
  });

  it('shifts a canary deployment in two steps, baking after the canary step', async () => {
    // Prepare
    seed({ strategy: 'CANARY', canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 15 } });

    // Act
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.status === 'SUCCESSFUL');

    // Assess
    const history = emulator.ecs.serviceDeploymentHistory(arn);
    const canaryAt = history.find((h) => h.productionWeight === 10)?.at ?? 0;
    const fullAt = history.find((h) => h.productionWeight === 100)?.at ?? 0;
    expect(fullAt - canaryAt).toBeGreaterThanOrEqual(15 * MINUTE);
    expect(stages(arn).filter((s) => s === 'PRE_PRODUCTION_TRAFFIC_SHIFT')).toHaveLength(2);
  });

  it('emits ECS Deployment State Change for these strategies unless told not to', async () => {
    // Prepare
    seed(BLUE_GREEN);
    emulator.ecs.setServiceDeploymentEvents(false);

    // Act
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.status === 'SUCCESSFUL');
    emulator.ecs.setServiceDeploymentEvents(true);
    const next = await deploy('web:v3');
    await until(next, (d) => d.status === 'SUCCESSFUL');
    await emulator.clock.advance(0);

    // Assess
    const names = events
      .filter((e) => e['detail-type'] === 'ECS Deployment State Change')
      .map((e) => (e.detail as JsonObject).eventName);
    expect(names).toEqual(['SERVICE_DEPLOYMENT_IN_PROGRESS', 'SERVICE_DEPLOYMENT_COMPLETED']);
  });

  it('rolls back a deployment whose tasks never become healthy once its stage reaches 24 hours', async () => {
    // Prepare
    seed(BLUE_GREEN);
    emulator.ecs.setScenario(`${registry}/web:v2`, 'neverStable');

    // Act
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.lifecycleStage === 'SCALE_UP');
    const scaleUpAt = emulator.clock.now();
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');

    // Assess
    const requested = emulator.ecs
      .serviceDeploymentHistory(arn)
      .find((h) => h.status === 'ROLLBACK_REQUESTED');
    expect((requested?.at ?? 0) - scaleUpAt).toBe(STAGE_TIMEOUT_MS);
    expect(current(arn).statusReason).toMatch(/SCALE_UP exceeded 24 hours/);
  });
});

describe('ECS deployment strategies: pause hooks', () => {
  const gated = {
    ...BLUE_GREEN,
    lifecycleHooks: [pauseAt(['POST_TEST_TRAFFIC_SHIFT'], { timeoutInMinutes: 60 })],
  };

  it('pauses at the hook, announces it as documented and continues on CONTINUE', async () => {
    // Prepare
    seed(gated);
    const arn = await deploy('web:v2');

    // Act
    await until(arn, awaiting);
    await emulator.clock.advance(0);
    const paused = await describeDeployment(arn);
    const hookId = awaitingHookId(arn);
    const answer = await ecs.send(
      new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId }),
    );
    await until(arn, (d) => d.status === 'SUCCESSFUL');

    // Assess
    expect(answer.serviceDeploymentArn).toBe(arn);
    expect(hookId).toMatch(/^ecs-pause-[\w-]{43}$/);
    expect(paused).toMatchObject({ status: 'IN_PROGRESS', lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT' });
    expect(paused.lifecycleHookDetails).toEqual([
      {
        hookId,
        targetType: 'PAUSE',
        status: 'AWAITING_ACTION',
        expiresAt: expect.any(Date),
        timeoutAction: 'ROLLBACK',
      },
    ]);
    const awaitingEvent = events.find((e) => e['detail-type'] === 'ECS Hook State Change');
    expect(awaitingEvent).toMatchObject({
      source: 'aws.ecs',
      resources: [],
      detail: {
        eventType: 'INFO',
        eventName: 'HOOK_AWAITING_ACTION',
        hookId,
        hookType: 'PAUSE',
        lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
        clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/prod',
        serviceArn: 'arn:aws:ecs:us-east-1:000000000000:service/prod/web',
        serviceDeploymentArn: arn,
        expiresAt: new Date(paused.lifecycleHookDetails?.[0]?.expiresAt ?? 0)
          .toISOString()
          .replace('.000Z', 'Z'),
      },
    });
    expect(hookEvents().map((e) => e.name)).toEqual(['HOOK_AWAITING_ACTION', 'HOOK_SUCCEEDED']);
  });

  it('names the service deployment in the hook event resources when asked to', async () => {
    // Prepare
    seed(gated);
    emulator.ecs.setHookEventResources(true);
    const arn = await deploy('web:v2');

    // Act
    await until(arn, awaiting);
    await emulator.clock.advance(0);

    // Assess
    expect(hookEvents()[0]?.resources).toEqual([arn]);
  });

  it('pauses a linear deployment before every traffic step, with a fresh hookId each time', async () => {
    // Prepare
    seed({
      strategy: 'LINEAR',
      bakeTimeInMinutes: 0,
      linearConfiguration: { stepPercent: 34, stepBakeTimeInMinutes: 0 },
      lifecycleHooks: [pauseAt(['PRE_PRODUCTION_TRAFFIC_SHIFT'])],
    });
    const arn = await deploy('web:v2');
    const hookIds: string[] = [];
    const weights: number[] = [];

    // Act
    for (let step = 0; step < 3; step++) {
      await until(arn, awaiting);
      hookIds.push(awaitingHookId(arn));
      weights.push(
        Number((current(arn).targetServiceRevision as JsonObject).requestedProductionTrafficWeight),
      );
      await ecs.send(
        new ContinueServiceDeploymentCommand({
          serviceDeploymentArn: arn,
          hookId: hookIds.at(-1),
          action: 'CONTINUE',
        }),
      );
    }
    await until(arn, (d) => d.status === 'SUCCESSFUL');

    // Assess
    expect(new Set(hookIds).size).toBe(3);
    expect(weights).toEqual([0, 34, 68]);
    expect(current(arn).lifecycleHookDetails).toHaveLength(3);
  });

  it('rolls back when a pause hook times out with the default ROLLBACK action', async () => {
    // Prepare
    seed(gated);
    const arn = await deploy('web:v2');
    await until(arn, awaiting);
    const pausedAt = emulator.clock.now();

    // Act
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');
    await emulator.clock.advance(0);

    // Assess
    const requested = emulator.ecs
      .serviceDeploymentHistory(arn)
      .find((h) => h.status === 'ROLLBACK_REQUESTED');
    expect((requested?.at ?? 0) - pausedAt).toBe(60 * MINUTE);
    expect(hookEvents().map((e) => e.name)).toEqual(['HOOK_AWAITING_ACTION', 'HOOK_TIMED_OUT']);
    expect((current(arn).lifecycleHookDetails as JsonObject[])[0]?.status).toBe('TIMED_OUT');
  });

  it('continues when a pause hook times out with the CONTINUE action', async () => {
    // Prepare
    seed({
      ...BLUE_GREEN,
      lifecycleHooks: [pauseAt(['POST_SCALE_UP'], { timeoutInMinutes: 5, action: 'CONTINUE' })],
    });
    const arn = await deploy('web:v2');

    // Act
    await until(arn, (d) => d.status !== 'IN_PROGRESS' && d.status !== 'PENDING');

    // Assess
    expect(current(arn).status).toBe('SUCCESSFUL');
  });

  it('waits for every hook at a stage before moving on', async () => {
    // Prepare
    seed({ ...BLUE_GREEN, lifecycleHooks: [pauseAt(['POST_SCALE_UP']), pauseAt(['POST_SCALE_UP'])] });
    const arn = await deploy('web:v2');
    await until(arn, awaiting);
    const [first, second] = (current(arn).lifecycleHookDetails as JsonObject[]).map((h) => String(h.hookId));

    // Act
    await ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId: first }));
    await emulator.clock.advance(10 * MINUTE);
    const stageAfterOne = current(arn).lifecycleStage;
    await ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId: second }));
    await until(arn, (d) => d.status === 'SUCCESSFUL');

    // Assess
    expect(stageAfterOne).toBe('POST_SCALE_UP');
  });

  it('rolls back on ContinueServiceDeployment ROLLBACK, re-running the traffic shift stages', async () => {
    // Prepare
    const seeded = seed(gated);
    const blueTasks = await runningTaskArns();
    const arn = await deploy('web:v2');
    await until(arn, awaiting);
    const source = (current(arn).sourceServiceRevisions as JsonObject[])[0]?.arn;

    // Act
    await ecs.send(
      new ContinueServiceDeploymentCommand({
        serviceDeploymentArn: arn,
        hookId: awaitingHookId(arn),
        action: 'ROLLBACK',
      }),
    );
    const requested = await describeDeployment(arn);
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');
    await emulator.clock.advance(0);

    // Assess
    expect(requested.status).toBe('ROLLBACK_REQUESTED');
    const statuses = [...new Set(emulator.ecs.serviceDeploymentHistory(arn).map((h) => h.status))];
    expect(statuses).toEqual([
      'PENDING',
      'IN_PROGRESS',
      'ROLLBACK_REQUESTED',
      'ROLLBACK_IN_PROGRESS',
      'ROLLBACK_SUCCESSFUL',
    ]);
    expect(stages(arn).slice(-2)).toEqual(['PRODUCTION_TRAFFIC_SHIFT', 'TEST_TRAFFIC_SHIFT']);
    const done = await describeDeployment(arn);
    expect(done.rollback).toMatchObject({ serviceRevisionArn: source, startedAt: expect.any(Date) });
    expect(done.rollback?.reason).toMatch(/ContinueServiceDeployment ROLLBACK/);
    expect(await runningTaskArns()).toEqual(blueTasks);
    const service = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web'] }));
    expect(service.services?.[0]?.taskDefinition).toBe(seeded.taskDefinitionArn);
    expect(hookEvents().map((e) => e.name)).toEqual(['HOOK_AWAITING_ACTION', 'HOOK_FAILED']);
  });

  it('pauses a first deployment too, and rolling it back ends ROLLBACK_FAILED', async () => {
    // Prepare
    const seeded = emulator.ecs.createService({
      cluster: 'prod',
      service: 'web',
      taskDefinition: taskDefinition(`${registry}/web:v1`),
      desiredCount: 2,
      deploymentConfiguration: gated,
      firstDeployment: 'inProgress',
    });
    const arn = seeded.serviceDeploymentArn ?? '';
    await until(arn, awaiting);

    // Act
    await ecs.send(
      new ContinueServiceDeploymentCommand({
        serviceDeploymentArn: arn,
        hookId: awaitingHookId(arn),
        action: 'ROLLBACK',
      }),
    );
    await until(arn, (d) => d.status !== 'ROLLBACK_REQUESTED' && d.status !== 'ROLLBACK_IN_PROGRESS');

    // Assess
    expect(current(arn)).toMatchObject({ status: 'ROLLBACK_FAILED', sourceServiceRevisions: [] });
    expect(current(arn).statusReason).toMatch(/No previous service revision/);
  });
});

describe('ECS deployment strategies: ContinueServiceDeployment errors', () => {
  const gated = { ...BLUE_GREEN, lifecycleHooks: [pauseAt(['POST_SCALE_UP', 'POST_TEST_TRAFFIC_SHIFT'])] };

  it('refuses a hookId already continued', async () => {
    // Prepare
    seed(gated);
    const arn = await deploy('web:v2');
    await until(arn, awaiting);
    const hookId = awaitingHookId(arn);
    await ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId }));

    // Act
    const again = ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId }));

    // Assess
    await expect(again).rejects.toMatchObject({ name: 'InvalidParameterException', message: /SUCCEEDED/ });
  });

  it('refuses a hookId the deployment never had', async () => {
    // Prepare
    seed(gated);
    const arn = await deploy('web:v2');
    await until(arn, awaiting);

    // Act
    const act = ecs.send(
      new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId: 'ecs-pause-nope' }),
    );

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'InvalidParameterException' });
    expect(current(arn).lifecycleStage).toBe('POST_SCALE_UP');
  });

  it('refuses an unknown service deployment', async () => {
    // Prepare
    seed(gated);

    // Act
    const act = ecs.send(
      new ContinueServiceDeploymentCommand({
        serviceDeploymentArn: 'arn:aws:ecs:us-east-1:000000000000:service-deployment/prod/web/nope',
        hookId: 'ecs-pause-nope',
      }),
    );

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ServiceDeploymentNotFoundException' });
  });

  it('refuses the hookId of a deployment a newer UpdateService superseded', async () => {
    // Prepare
    seed(gated);
    const first = await deploy('web:v2');
    await until(first, awaiting);
    const staleHook = awaitingHookId(first);

    // Act
    const second = await deploy('web:v3');
    const act = ecs.send(
      new ContinueServiceDeploymentCommand({ serviceDeploymentArn: first, hookId: staleHook }),
    );

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'InvalidParameterException', message: /STOPPED/ });
    expect(current(first)).toMatchObject({ status: 'STOPPED' });
    expect(String(current(first).statusReason)).toContain(second);
  });

  it('refuses to continue a deployment that is rolling back', async () => {
    // Prepare
    seed({ ...BLUE_GREEN, lifecycleHooks: [pauseAt(['POST_SCALE_UP']), pauseAt(['POST_SCALE_UP'])] });
    const arn = await deploy('web:v2');
    await until(arn, awaiting);
    const [first, second] = (current(arn).lifecycleHookDetails as JsonObject[]).map((h) => String(h.hookId));
    await ecs.send(
      new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId: first, action: 'ROLLBACK' }),
    );

    // Act
    const act = ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId: second }));

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: /ROLLBACK_REQUESTED/,
    });
  });
});

describe('ECS deployment strategies: StopServiceDeployment', () => {
  it('rolls back at once during bake: the old revision never stopped', async () => {
    // Prepare
    seed({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 60 });
    const blueTasks = await runningTaskArns();
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.lifecycleStage === 'BAKE_TIME');
    const stoppedAt = emulator.clock.now();

    // Act
    await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' }));
    const requested = current(arn).status;
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');

    // Assess
    expect(requested).toBe('ROLLBACK_REQUESTED');
    expect(emulator.clock.now() - stoppedAt).toBeLessThan(MINUTE);
    expect(await runningTaskArns()).toEqual(blueTasks);
    const stopped = await ecs.send(new ListTasksCommand({ cluster: 'prod', desiredStatus: 'STOPPED' }));
    expect(stopped.taskArns).toHaveLength(2);
  });

  it('lets a deployment that is already rolling back carry on', async () => {
    // Prepare
    seed(BLUE_GREEN);
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.lifecycleStage === 'BAKE_TIME');
    await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn }));

    // Act
    const again = await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn }));
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');

    // Assess
    expect(again.serviceDeploymentArn).toBe(arn);
    expect(
      emulator.ecs.serviceDeploymentHistory(arn).filter((h) => h.status === 'ROLLBACK_REQUESTED'),
    ).toHaveLength(1);
  });

  it('refuses to stop a deployment that finished', async () => {
    // Prepare
    seed(BLUE_GREEN);
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.status === 'SUCCESSFUL');

    // Act
    const act = ecs.send(
      new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' }),
    );

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ConflictException' });
    expect(current(arn).status).toBe('SUCCESSFUL');
  });

  it('refuses the ABORT stop type it does not emulate', async () => {
    // Prepare
    seed(BLUE_GREEN);
    const arn = await deploy('web:v2');

    // Act
    const act = ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ABORT' }));

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'UnsupportedParameter' });
    expect(current(arn).status).toBe('PENDING');
  });

  it('rolls back a PENDING deployment', async () => {
    // Prepare
    seed(BLUE_GREEN);
    const arn = await deploy('web:v2');

    // Act
    await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn }));
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');

    // Assess
    expect(stages(arn)).toEqual(['PRODUCTION_TRAFFIC_SHIFT', 'TEST_TRAFFIC_SHIFT']);
  });
});

describe('ECS deployment strategies: supersession', () => {
  it('reconciles the superseded revision first and rolls back to the revision serving production', async () => {
    // Prepare
    seed({ ...BLUE_GREEN, lifecycleHooks: [pauseAt(['POST_TEST_TRAFFIC_SHIFT'])] });
    const blueTasks = await runningTaskArns();
    const first = await deploy('web:v2');
    await until(first, awaiting);

    // Act
    const second = await deploy('web:v3');
    await until(second, awaiting);
    const reconciled = await runningTaskArns();
    await ecs.send(
      new ContinueServiceDeploymentCommand({
        serviceDeploymentArn: second,
        hookId: awaitingHookId(second),
        action: 'ROLLBACK',
      }),
    );
    await until(second, (d) => d.status === 'ROLLBACK_SUCCESSFUL');

    // Assess
    expect(stages(second)[0]).toBe('RECONCILE_SERVICE');
    expect((current(second).sourceServiceRevisions as JsonObject[]).length).toBe(2);
    expect(reconciled).toHaveLength(4);
    expect(reconciled).toEqual(expect.arrayContaining(blueTasks));
    expect(await runningTaskArns()).toEqual(blueTasks);
    expect(current(second).rollback).toMatchObject({
      serviceRevisionArn: (current(first).sourceServiceRevisions as JsonObject[])[0]?.arn,
    });
  });

  it('lists a service deployments newest first, filtered by status and paginated', async () => {
    // Prepare
    seed({ ...BLUE_GREEN, lifecycleHooks: [pauseAt(['POST_SCALE_UP'])] });
    const first = await deploy('web:v2');
    await until(first, awaiting);
    const second = await deploy('web:v3');

    // Act
    const all = await ecs.send(new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'web' }));
    const stopped = await ecs.send(
      new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'web', status: ['STOPPED'] }),
    );
    const page = await ecs.send(
      new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'web', maxResults: 1 }),
    );
    const rest = await ecs.send(
      new ListServiceDeploymentsCommand({
        cluster: 'prod',
        service: 'web',
        maxResults: 1,
        nextToken: page.nextToken,
      }),
    );

    // Assess
    expect(all.serviceDeployments?.map((d) => d.serviceDeploymentArn)).toEqual([second, first]);
    expect(stopped.serviceDeployments?.map((d) => d.serviceDeploymentArn)).toEqual([first]);
    expect(all.serviceDeployments?.[0]).toMatchObject({
      status: 'PENDING',
      serviceArn: 'arn:aws:ecs:us-east-1:000000000000:service/prod/web',
      targetServiceRevisionArn: expect.stringMatching(/:service-revision\/prod\/web\/\d+$/),
    });
    expect(page.serviceDeployments?.map((d) => d.serviceDeploymentArn)).toEqual([second]);
    expect(rest.serviceDeployments?.map((d) => d.serviceDeploymentArn)).toEqual([first]);
    expect(rest.nextToken).toBeUndefined();
  });

  it('reports an unknown service deployment as a MISSING failure', async () => {
    // Prepare
    seed(BLUE_GREEN);
    const missing = 'arn:aws:ecs:us-east-1:000000000000:service-deployment/prod/web/nope';

    // Act
    const result = await ecs.send(
      new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [missing] }),
    );

    // Assess
    expect(result).toMatchObject({ serviceDeployments: [], failures: [{ arn: missing, reason: 'MISSING' }] });
  });
});

describe('ECS deployment strategies: scenarios and Lambda hooks', () => {
  it('makes the new revision crash from the stage a scenario names, and ECS keeps going until stopped', async () => {
    // Prepare
    seed({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 30 });
    emulator.ecs.setScenario(`${registry}/web:v2`, { kind: 'healthy', crashFromStage: 'BAKE_TIME' });
    const arn = await deploy('web:v2');
    await until(arn, (d) => d.lifecycleStage === 'BAKE_TIME');
    const crashedBefore = events.filter(
      (e) => (e.detail as JsonObject).stopCode === 'EssentialContainerExited',
    );

    // Act
    await emulator.clock.advance(MINUTE);
    const status = current(arn).status;
    await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn }));
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');

    // Assess
    expect(crashedBefore).toHaveLength(0);
    const crashed = events.filter((e) => (e.detail as JsonObject).stopCode === 'EssentialContainerExited');
    expect(crashed.length).toBeGreaterThanOrEqual(2);
    const described = await ecs.send(
      new DescribeTasksCommand({
        cluster: 'prod',
        tasks: [String((crashed[0]?.detail as JsonObject | undefined)?.taskArn)],
      }),
    );
    expect(described.tasks?.[0]?.taskDefinitionArn).toMatch(/web:2$/);
    expect(status).toBe('IN_PROGRESS');
  });

  it('invokes a Lambda hook stand-in until it answers, and again at the traffic shifts of a rollback', async () => {
    // Prepare
    const fn = 'arn:aws:lambda:us-east-1:000000000000:function:gate';
    const calls: { at: number; payload: JsonObject }[] = [];
    const answers = ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'SUCCEEDED'];
    emulator.ecs.setLambdaHook(fn, (payload) => {
      calls.push({ at: emulator.clock.now(), payload });
      return { hookStatus: answers[calls.length - 1] ?? 'SUCCEEDED', callBackDelay: 45 };
    });
    seed({
      ...BLUE_GREEN,
      lifecycleHooks: [
        {
          targetType: 'AWS_LAMBDA',
          hookTargetArn: fn,
          roleArn: 'arn:aws:iam::000000000000:role/ecs-hooks',
          lifecycleStages: ['POST_SCALE_UP', 'PRODUCTION_TRAFFIC_SHIFT'],
          hookDetails: { gate: 'web' },
        },
      ],
    });
    const arn = await deploy('web:v2');

    // Act
    await until(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL');
    await emulator.clock.advance(0);

    // Assess
    expect(calls).toHaveLength(4);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBe(45_000);
    expect(calls[0]?.payload).toMatchObject({
      serviceArn: 'arn:aws:ecs:us-east-1:000000000000:service/prod/web',
      targetServiceRevisionArn: expect.stringMatching(/:service-revision\//),
      hookDetails: { gate: 'web' },
    });
    const productionWeights = Object.values(calls[3]?.payload.productionTrafficWeights as JsonObject);
    expect(productionWeights.sort()).toEqual([0, 100]);
    expect(hookEvents().map((e) => e.name)).toEqual([
      'HOOK_IN_PROGRESS',
      'HOOK_SUCCEEDED',
      'HOOK_IN_PROGRESS',
      'HOOK_FAILED',
      'HOOK_IN_PROGRESS',
      'HOOK_SUCCEEDED',
    ]);
  });
});
