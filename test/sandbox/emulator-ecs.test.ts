import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  TagResourceCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AwsEvent,
  circuitBreakerThreshold,
  type Emulator,
  type JsonObject,
  type Scenario,
  startEmulator,
} from '../../sandbox/emulator/index.ts';

const START = Date.UTC(2025, 0, 1);
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
  executionRoleArn: 'arn:aws:iam::000000000000:role/web-exec',
  containerDefinitions: [{ name: 'web', image, essential: true, portMappings: [{ containerPort: 8080 }] }],
  tags: [{ key: 'app', value: 'web' }],
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
});

afterEach(async () => {
  await emulator.close();
});

function seed(
  options: { circuitBreaker?: { enable: boolean; rollback: boolean }; desiredCount?: number } = {},
) {
  return emulator.ecs.createService({
    cluster: 'prod',
    service: 'web',
    taskDefinition: taskDefinition(`${registry}/web:v1`),
    desiredCount: options.desiredCount ?? 2,
    ...(options.circuitBreaker === undefined ? {} : { circuitBreaker: options.circuitBreaker }),
  });
}

async function describeService() {
  const result = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web'] }));
  const service = result.services?.[0];
  if (service === undefined) throw new Error('service missing');
  return service;
}

/** What Gantry's deployEcs does: copy the live task definition with a new image and roll it out. */
async function deploy(image: string, scenario?: Scenario): Promise<string> {
  if (scenario !== undefined) emulator.ecs.setScenario(image, scenario);
  const service = await describeService();
  const described = await ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: service.taskDefinition, include: ['TAGS'] }),
  );
  const current = described.taskDefinition;
  if (current === undefined) throw new Error('task definition missing');
  const {
    taskDefinitionArn: _arn,
    revision: _revision,
    status: _status,
    requiresAttributes: _requires,
    compatibilities: _compat,
    registeredAt: _at,
    registeredBy: _by,
    ...writable
  } = current;
  const input: RegisterTaskDefinitionCommandInput = {
    ...(writable as RegisterTaskDefinitionCommandInput),
    containerDefinitions: (current.containerDefinitions ?? []).map((c) => ({ ...c, image })),
    ...(described.tags === undefined ? {} : { tags: described.tags }),
  };
  const registered = await ecs.send(new RegisterTaskDefinitionCommand(input));
  const arn = registered.taskDefinition?.taskDefinitionArn ?? '';
  await ecs.send(new TagResourceCommand({ resourceArn: arn, tags: [{ key: 'gantry:image', value: image }] }));
  const updated = await ecs.send(
    new UpdateServiceCommand({ cluster: 'prod', service: 'web', taskDefinition: arn }),
  );
  return updated.service?.deployments?.[0]?.id ?? '';
}

function deploymentEvents(): { name: unknown; id: unknown; type: unknown; reason: unknown }[] {
  return events
    .filter((e) => e['detail-type'] === 'ECS Deployment State Change')
    .map((e) => {
      const d = e.detail as Record<string, unknown>;
      return { name: d.eventName, id: d.deploymentId, type: d.eventType, reason: d.reason };
    });
}

describe('ECS API', () => {
  it('describes a seeded service at steady state', async () => {
    // Prepare
    const seeded = seed({ circuitBreaker: { enable: true, rollback: true } });

    // Act
    const result = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web', 'api'] }));

    // Assess
    expect(result.failures).toEqual([
      { arn: 'arn:aws:ecs:us-east-1:000000000000:service/prod/api', reason: 'MISSING' },
    ]);
    expect(result.services?.[0]).toMatchObject({
      serviceArn: 'arn:aws:ecs:us-east-1:000000000000:service/prod/web',
      serviceName: 'web',
      clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/prod',
      status: 'ACTIVE',
      desiredCount: 2,
      runningCount: 2,
      pendingCount: 0,
      taskDefinition: seeded.taskDefinitionArn,
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
      deployments: [
        {
          id: seeded.deploymentId,
          status: 'PRIMARY',
          taskDefinition: seeded.taskDefinitionArn,
          desiredCount: 2,
          runningCount: 2,
          pendingCount: 0,
          failedTasks: 0,
          rolloutState: 'COMPLETED',
          createdAt: new Date(START),
          updatedAt: new Date(START),
        },
      ],
    });
    expect(seeded.deploymentId).toMatch(/^ecs-svc\/\d{19}$/);
  });

  it('answers ClusterNotFoundException and ServiceNotFoundException', async () => {
    // Prepare
    seed();

    // Act
    const noCluster = ecs.send(new DescribeServicesCommand({ cluster: 'staging', services: ['web'] }));
    const noService = ecs.send(
      new UpdateServiceCommand({ cluster: 'prod', service: 'api', forceNewDeployment: true }),
    );

    // Assess
    await expect(noCluster).rejects.toMatchObject({ name: 'ClusterNotFoundException' });
    await expect(noService).rejects.toMatchObject({ name: 'ServiceNotFoundException' });
  });

  it('returns the read-only task definition fields and tags AWS returns', async () => {
    // Prepare
    const seeded = seed();

    // Act
    const result = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: seeded.taskDefinitionArn, include: ['TAGS'] }),
    );

    // Assess
    expect(result.tags).toEqual([{ key: 'app', value: 'web' }]);
    expect(result.taskDefinition).toMatchObject({
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
      family: 'web',
      revision: 1,
      status: 'ACTIVE',
      compatibilities: ['EC2', 'FARGATE'],
      requiresCompatibilities: ['FARGATE'],
      registeredAt: new Date(START),
      registeredBy: expect.stringMatching(/^arn:aws:sts::000000000000:/),
      requiresAttributes: expect.arrayContaining([{ name: 'ecs.capability.task-eni' }]),
      containerDefinitions: [
        expect.objectContaining({ name: 'web', essential: true, cpu: 0, environment: [] }),
      ],
    });
  });

  it('registers a copy as the next revision, tags it and rolls it out', async () => {
    // Prepare
    seed();

    // Act
    const deploymentId = await deploy(`${registry}/web:v2`);
    const service = await describeService();
    const latest = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: 'web', include: ['TAGS'] }),
    );

    // Assess
    expect(latest.taskDefinition?.revision).toBe(2);
    expect(latest.taskDefinition?.containerDefinitions?.[0]?.image).toBe(`${registry}/web:v2`);
    expect(latest.taskDefinition?.containerDefinitions?.[0]?.portMappings).toEqual([{ containerPort: 8080 }]);
    expect(latest.tags).toEqual([
      { key: 'app', value: 'web' },
      { key: 'gantry:image', value: `${registry}/web:v2` },
    ]);
    expect(service.taskDefinition).toBe(latest.taskDefinition?.taskDefinitionArn);
    expect(service.deployments?.map((d) => [d.id === deploymentId, d.status, d.rolloutState])).toEqual([
      [true, 'PRIMARY', 'IN_PROGRESS'],
      [false, 'ACTIVE', 'COMPLETED'],
    ]);
  });

  it('answers ClientException for an unknown task definition', async () => {
    // Act
    const result = ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'nope:3' }));

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ClientException' });
  });

  it('rejects an UpdateService parameter it does not simulate', async () => {
    // Prepare
    seed();

    // Act
    const result = ecs.send(
      new UpdateServiceCommand({
        cluster: 'prod',
        service: 'web',
        forceNewDeployment: true,
        deploymentConfiguration: { maximumPercent: 150 },
      }),
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: 'UnsupportedParameter',
      message: expect.stringContaining('deploymentConfiguration'),
    });
  });

  it('refuses a new task definition through UpdateService on a CODE_DEPLOY service, as ECS does', async () => {
    // Prepare
    const seeded = emulator.ecs.createService({
      cluster: 'prod',
      service: 'bluegreen',
      taskDefinition: taskDefinition(`${registry}/web:v1`),
      desiredCount: 1,
      deploymentController: 'CODE_DEPLOY',
    });
    const described = await ecs.send(
      new DescribeServicesCommand({ cluster: 'prod', services: ['bluegreen'] }),
    );

    // Act
    const updating = ecs.send(
      new UpdateServiceCommand({
        cluster: 'prod',
        service: 'bluegreen',
        taskDefinition: seeded.taskDefinitionArn,
      }),
    );

    // Assess
    expect(described.services?.[0]?.deploymentController).toEqual({ type: 'CODE_DEPLOY' });
    await expect(updating).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('Use AWS CodeDeploy to trigger a new deployment.'),
    });
  });

  it('seeds service tags and returns them only with include TAGS', async () => {
    // Prepare
    emulator.ecs.createService({
      cluster: 'prod',
      service: 'tagged',
      taskDefinition: taskDefinition(`${registry}/web:v1`),
      desiredCount: 1,
      tags: [{ key: 'gantry:managed', value: 'true' }],
    });

    // Act
    const plain = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['tagged'] }));
    const withTags = await ecs.send(
      new DescribeServicesCommand({ cluster: 'prod', services: ['tagged'], include: ['TAGS'] }),
    );

    // Assess
    expect(plain.services?.[0]?.tags).toBeUndefined();
    expect(withTags.services?.[0]?.tags).toEqual([{ key: 'gantry:managed', value: 'true' }]);
  });

  it('rejects an unknown container definition key', async () => {
    // Act
    const response = await fetch(emulator.url, {
      method: 'POST',
      headers: {
        authorization: 'x',
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition',
      },
      body: JSON.stringify({
        family: 'web',
        containerDefinitions: [{ name: 'web', image: 'web:v1', memroy: 512 }],
      }),
    });

    // Assess
    expect(await response.json()).toMatchObject({
      __type: 'UnsupportedParameter',
      message: expect.stringContaining('memroy'),
    });
  });

  it('lists and describes tasks by service, deployment and desired status', async () => {
    // Prepare
    const seeded = seed();
    const deploymentId = await deploy(`${registry}/web:v2`);

    // Act
    const all = await ecs.send(new ListTasksCommand({ cluster: 'prod', serviceName: 'web' }));
    const fresh = await ecs.send(new ListTasksCommand({ cluster: 'prod', startedBy: deploymentId }));
    const stopped = await ecs.send(new ListTasksCommand({ cluster: 'prod', desiredStatus: 'STOPPED' }));
    const described = await ecs.send(
      new DescribeTasksCommand({ cluster: 'prod', tasks: [...(fresh.taskArns ?? []), 'nope'] }),
    );

    // Assess
    expect(all.taskArns).toHaveLength(4);
    expect(fresh.taskArns).toHaveLength(2);
    expect(stopped.taskArns).toEqual([]);
    expect(described.failures).toEqual([{ arn: 'nope', reason: 'MISSING' }]);
    expect(described.tasks?.[0]).toMatchObject({
      clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/prod',
      group: 'service:web',
      startedBy: deploymentId,
      lastStatus: 'PENDING',
      desiredStatus: 'RUNNING',
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:2',
      containers: [expect.objectContaining({ name: 'web', lastStatus: 'PENDING' })],
    });
    expect(seeded.deploymentId).not.toBe(deploymentId);
  });
});

describe('rollout simulator', () => {
  it('completes a healthy rollout after 30 simulated seconds, draining the old tasks', async () => {
    // Prepare
    const seeded = seed();
    const deploymentId = await deploy(`${registry}/web:v2`);

    // Act
    await emulator.clock.advance(29_999);
    const during = await describeService();
    await emulator.clock.advance(1);
    const after = await describeService();
    const oldTasks = await ecs.send(
      new ListTasksCommand({ cluster: 'prod', startedBy: seeded.deploymentId, desiredStatus: 'STOPPED' }),
    );
    const drained = await ecs.send(
      new DescribeTasksCommand({ cluster: 'prod', tasks: oldTasks.taskArns ?? [] }),
    );

    // Assess
    expect(during.deployments?.[0]).toMatchObject({
      rolloutState: 'IN_PROGRESS',
      runningCount: 2,
      pendingCount: 0,
    });
    expect(after.deployments).toHaveLength(1);
    expect(after.deployments?.[0]).toMatchObject({
      id: deploymentId,
      rolloutState: 'COMPLETED',
      rolloutStateReason: `ECS deployment ${deploymentId} completed.`,
      updatedAt: new Date(START + 30_000),
    });
    expect(after.runningCount).toBe(2);
    expect(after.events?.[0]?.message).toBe('(service web) has reached a steady state.');
    expect(drained.tasks?.map((t) => t.stopCode)).toEqual([
      'ServiceSchedulerInitiated',
      'ServiceSchedulerInitiated',
    ]);
    expect(deploymentEvents().map((e) => [e.name, e.id])).toEqual([
      ['SERVICE_DEPLOYMENT_IN_PROGRESS', deploymentId],
      ['SERVICE_DEPLOYMENT_COMPLETED', deploymentId],
    ]);
  });

  it('emits deployment events shaped like AWS', async () => {
    // Prepare
    seed();
    const deploymentId = await deploy(`${registry}/web:v2`);

    // Act
    await emulator.clock.runUntilIdle();

    // Assess
    const completed = events.find(
      (e) => (e.detail as Record<string, unknown>).eventName === 'SERVICE_DEPLOYMENT_COMPLETED',
    );
    expect(completed).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': 'ECS Deployment State Change',
      source: 'aws.ecs',
      account: '000000000000',
      time: '2025-01-01T00:00:30Z',
      region: 'us-east-1',
      resources: ['arn:aws:ecs:us-east-1:000000000000:service/prod/web'],
      detail: {
        eventType: 'INFO',
        eventName: 'SERVICE_DEPLOYMENT_COMPLETED',
        deploymentId,
        updatedAt: '2025-01-01T00:00:30.000Z',
        reason: `ECS deployment ${deploymentId} completed.`,
      },
    });
  });

  it('emits task events shaped like AWS, started by the deployment', async () => {
    // Prepare
    seed();
    const deploymentId = await deploy(`${registry}/web:v2`);

    // Act
    await emulator.clock.advance(10_000);

    // Assess
    const running = events.filter(
      (e) =>
        e['detail-type'] === 'ECS Task State Change' &&
        (e.detail as Record<string, unknown>).lastStatus === 'RUNNING',
    );
    expect(running).toHaveLength(2);
    const [first] = running;
    expect(first).toMatchObject({
      source: 'aws.ecs',
      resources: [expect.stringMatching(/^arn:aws:ecs:us-east-1:000000000000:task\/prod\/[0-9a-f]{32}$/)],
      detail: {
        clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/prod',
        group: 'service:web',
        startedBy: deploymentId,
        lastStatus: 'RUNNING',
        desiredStatus: 'RUNNING',
        launchType: 'FARGATE',
        taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:2',
        createdAt: '2025-01-01T00:00:00.000Z',
        startedAt: '2025-01-01T00:00:10.000Z',
        version: 2,
        containers: [
          expect.objectContaining({
            name: 'web',
            image: `${registry}/web:v2`,
            imageDigest: expect.stringMatching(/^sha256:/),
            lastStatus: 'RUNNING',
          }),
        ],
      },
    });
    expect(first?.detail).toMatchObject({ taskArn: first?.resources[0] });
  });

  it('fails a crash-looping rollout by circuit breaker and rolls back to the last completed deployment', async () => {
    // Prepare
    const seeded = seed({ circuitBreaker: { enable: true, rollback: true } });
    const failedId = await deploy(`${registry}/web:v2`, 'crashLoop');

    // Act
    await emulator.clock.runUntilIdle();
    const service = await describeService();

    // Assess
    const timeline = deploymentEvents();
    const rollbackId = timeline[2]?.id;
    expect(timeline).toEqual([
      {
        name: 'SERVICE_DEPLOYMENT_IN_PROGRESS',
        id: failedId,
        type: 'INFO',
        reason: `ECS deployment ${failedId} in progress.`,
      },
      {
        name: 'SERVICE_DEPLOYMENT_FAILED',
        id: failedId,
        type: 'ERROR',
        reason: 'ECS deployment circuit breaker: task failed to start.',
      },
      {
        name: 'SERVICE_DEPLOYMENT_IN_PROGRESS',
        id: rollbackId,
        type: 'INFO',
        reason: `ECS deployment circuit breaker: rolling back to deploymentId ${seeded.deploymentId}.`,
      },
      {
        name: 'SERVICE_DEPLOYMENT_COMPLETED',
        id: rollbackId,
        type: 'INFO',
        reason: `ECS deployment ${rollbackId} completed.`,
      },
    ]);
    expect(service.taskDefinition).toBe(seeded.taskDefinitionArn);
    expect(service.deployments).toEqual([
      expect.objectContaining({ id: rollbackId, status: 'PRIMARY', rolloutState: 'COMPLETED' }),
    ]);
    const crashed = events.filter(
      (e) => (e.detail as Record<string, unknown>).stopCode === 'EssentialContainerExited',
    );
    // Tasks already crashing when the breaker trips still report their exit.
    expect(crashed.length).toBeGreaterThanOrEqual(circuitBreakerThreshold(2));
    expect(crashed[0]?.detail).toMatchObject({
      startedBy: failedId,
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stoppedReason: 'Essential container in task exited',
      containers: [expect.objectContaining({ name: 'web', exitCode: 1, lastStatus: 'STOPPED' })],
    });
  });

  it('keeps the failed deployment PRIMARY until the circuit breaker starts its delayed rollback', async () => {
    // Prepare
    seed({ circuitBreaker: { enable: true, rollback: true } });
    const failedId = await deploy(`${registry}/web:v2`, {
      kind: 'crashLoop',
      breakerRollbackDelaySeconds: 60,
    });
    await emulator.clock.advanceUntil(
      () => deploymentEvents().some((e) => e.name === 'SERVICE_DEPLOYMENT_FAILED'),
      {
        limitMs: 600_000,
      },
    );

    // Act
    const justFailed = await describeService();
    await emulator.clock.advance(60_000);
    const rollingBack = await describeService();

    // Assess
    expect(justFailed.deployments?.[0]).toMatchObject({
      id: failedId,
      status: 'PRIMARY',
      rolloutState: 'FAILED',
    });
    expect(rollingBack.deployments?.[0]).toMatchObject({ status: 'PRIMARY', rolloutState: 'IN_PROGRESS' });
    expect(rollingBack.deployments?.[0]?.id).not.toBe(failedId);
  });

  it('leaves a failed deployment PRIMARY when rollback is off', async () => {
    // Prepare
    seed({ circuitBreaker: { enable: true, rollback: false } });
    const failedId = await deploy(`${registry}/web:v2`, 'crashLoop');

    // Act
    await emulator.clock.runUntilIdle();
    const service = await describeService();

    // Assess
    expect(service.deployments?.[0]).toMatchObject({
      id: failedId,
      status: 'PRIMARY',
      rolloutState: 'FAILED',
      rolloutStateReason: 'ECS deployment circuit breaker: task failed to start.',
    });
    expect(service.deployments?.[0]?.failedTasks).toBeGreaterThanOrEqual(3);
    expect(service.deployments?.[1]).toMatchObject({
      status: 'ACTIVE',
      rolloutState: 'COMPLETED',
      runningCount: 2,
    });
    expect(deploymentEvents().map((e) => e.name)).toEqual([
      'SERVICE_DEPLOYMENT_IN_PROGRESS',
      'SERVICE_DEPLOYMENT_FAILED',
    ]);
  });

  it('crash-loops forever without circuit breaker, as ECS does', async () => {
    // Prepare
    seed();
    const deploymentId = await deploy(`${registry}/web:v2`, 'crashLoop');

    // Act
    await emulator.clock.advance(600_000);
    const service = await describeService();
    const stopped = await ecs.send(
      new ListTasksCommand({ cluster: 'prod', startedBy: deploymentId, desiredStatus: 'STOPPED' }),
    );

    // Assess
    expect(service.deployments?.[0]).toMatchObject({ id: deploymentId, rolloutState: 'IN_PROGRESS' });
    expect(service.deployments?.[0]?.failedTasks).toBeGreaterThan(20);
    expect(stopped.taskArns?.length).toBeGreaterThan(20);
    expect(deploymentEvents().map((e) => e.name)).toEqual(['SERVICE_DEPLOYMENT_IN_PROGRESS']);
  });

  it('runs a slow fifteen-minute rollout in simulated time', async () => {
    // Prepare
    seed();
    await deploy(`${registry}/web:v2`, 'slow');

    // Act
    await emulator.clock.advance(600_000);
    const atTenMinutes = await describeService();
    const elapsed = await emulator.clock.runUntilIdle();
    const done = await describeService();

    // Assess
    expect(atTenMinutes.deployments?.[0]?.rolloutState).toBe('IN_PROGRESS');
    expect(elapsed).toBe(300_000);
    expect(done.deployments?.[0]?.rolloutState).toBe('COMPLETED');
  });

  it('keeps a neverStable rollout IN_PROGRESS with its tasks pending', async () => {
    // Prepare
    seed();
    await deploy(`${registry}/web:v2`, 'neverStable');

    // Act
    await emulator.clock.advance(3_600_000);
    const service = await describeService();

    // Assess
    expect(service.deployments?.[0]).toMatchObject({
      rolloutState: 'IN_PROGRESS',
      pendingCount: 2,
      runningCount: 0,
    });
  });

  it('finds a scenario set on a digest through the tag ECR resolves', async () => {
    // Prepare
    seed();
    const bad = emulator.ecr.putImage({ repository: 'web', tag: 'v3' });
    emulator.ecs.setScenario(bad.digest, { kind: 'healthy', stableAfterSeconds: 5 });

    // Act
    await deploy(`${registry}/web:v3`);
    await emulator.clock.advance(5_000);

    // Assess
    expect((await describeService()).deployments?.[0]?.rolloutState).toBe('COMPLETED');
  });

  it('lets a newer deployment supersede one in progress', async () => {
    // Prepare
    seed();
    const first = await deploy(`${registry}/web:v2`, 'neverStable');

    // Act
    const second = await deploy(`${registry}/web:v1`);
    const during = await describeService();
    await emulator.clock.runUntilIdle();
    const after = await describeService();

    // Assess
    expect(during.deployments?.map((d) => [d.id, d.status])).toEqual([
      [second, 'PRIMARY'],
      [first, 'ACTIVE'],
      [expect.any(String), 'ACTIVE'],
    ]);
    expect(after.deployments?.map((d) => d.id)).toEqual([second]);
  });

  it('drops chosen events so tests can simulate a lost one', async () => {
    // Prepare
    seed();
    const stop = emulator.ecs.dropEvents(
      (e) => (e.detail as Record<string, unknown>).eventName === 'SERVICE_DEPLOYMENT_COMPLETED',
    );
    await deploy(`${registry}/web:v2`);

    // Act
    await emulator.clock.runUntilIdle();
    stop();

    // Assess
    expect(deploymentEvents().map((e) => e.name)).toEqual(['SERVICE_DEPLOYMENT_IN_PROGRESS']);
    expect(emulator.events.dropped.map((e) => (e.detail as Record<string, unknown>).eventName)).toEqual([
      'SERVICE_DEPLOYMENT_COMPLETED',
    ]);
    expect((await describeService()).deployments?.[0]?.rolloutState).toBe('COMPLETED');
  });

  it('makes ListTasks lag behind task events when asked, while DescribeTasks is current', async () => {
    // Prepare
    seed();
    emulator.ecs.setListTasksLag(60);
    const deploymentId = await deploy(`${registry}/web:v2`, 'crashLoop');
    const listStopped = () =>
      ecs.send(new ListTasksCommand({ cluster: 'prod', startedBy: deploymentId, desiredStatus: 'STOPPED' }));

    // Act: the first two tasks stop at 10 s.
    await emulator.clock.advance(10_000);
    const stoppedEvent = events.find(
      (e) =>
        e['detail-type'] === 'ECS Task State Change' && (e.detail as JsonObject).lastStatus === 'STOPPED',
    );
    const taskArn = String((stoppedEvent?.detail as JsonObject | undefined)?.taskArn);
    const whileLagging = await listStopped();
    const running = await ecs.send(new ListTasksCommand({ cluster: 'prod', startedBy: deploymentId }));
    const described = await ecs.send(new DescribeTasksCommand({ cluster: 'prod', tasks: [taskArn] }));
    await emulator.clock.advance(60_000);
    const afterLag = await listStopped();

    // Assess
    expect(whileLagging.taskArns).toEqual([]);
    expect(running.taskArns).toContain(taskArn);
    expect(described.tasks?.[0]?.lastStatus).toBe('STOPPED');
    expect(afterLag.taskArns).toContain(taskArn);
  });

  it('lets simulated time follow real time at a speed factor for demos', async () => {
    // Prepare
    seed();
    await deploy(`${registry}/web:v2`);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });

    // Act
    try {
      const stop = emulator.clock.startRealtime({ speed: 100, tickMs: 100 });
      await vi.advanceTimersByTimeAsync(300);
      stop();
    } finally {
      vi.useRealTimers();
    }

    // Assess
    expect(emulator.clock.now()).toBe(START + 30_000);
    expect(deploymentEvents().map((e) => e.name)).toEqual([
      'SERVICE_DEPLOYMENT_IN_PROGRESS',
      'SERVICE_DEPLOYMENT_COMPLETED',
    ]);
  });
});
