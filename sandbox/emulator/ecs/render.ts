import { compact, epochSeconds, isObject, type Json, type JsonObject } from '../protocol.ts';
import type {
  Cluster,
  Deployment,
  EcsModel,
  Service,
  ServiceDeploymentRecord,
  ServiceRevision,
  Task,
  TaskDefinitionRecord,
} from './model.ts';
import { renderStrategyConfig } from './strategy-config.ts';

/** ECS's shapes: API answers carry epoch seconds, EventBridge events ISO-8601 strings. */

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function renderTask(model: EcsModel, task: Task, as: 'api' | 'event'): JsonObject {
  const time = (ms: number | undefined): Json | undefined =>
    ms === undefined ? undefined : as === 'api' ? epochSeconds(ms) : iso(ms);
  return compact({
    attachments: [],
    availabilityZone: `${model.region}a`,
    clusterArn: task.clusterArn,
    connectivity: task.lastStatus === 'RUNNING' ? 'CONNECTED' : undefined,
    containers: task.containers.map((c) =>
      compact({
        containerArn: c.containerArn,
        taskArn: task.arn,
        name: c.name,
        image: c.image,
        imageDigest: c.imageDigest,
        lastStatus: c.lastStatus,
        exitCode: c.exitCode,
        reason: c.reason,
        networkInterfaces: [],
      }),
    ),
    cpu: task.cpu,
    createdAt: time(task.createdAt),
    desiredStatus: task.desiredStatus,
    group: `service:${task.serviceName}`,
    healthStatus: as === 'api' ? 'UNKNOWN' : undefined,
    lastStatus: task.lastStatus,
    launchType: task.launchType,
    memory: task.memory,
    overrides: { containerOverrides: task.containers.map((c) => ({ name: c.name })) },
    platformVersion: task.launchType === 'FARGATE' ? '1.4.0' : undefined,
    startedAt: time(task.startedAt),
    startedBy: task.deploymentId,
    stopCode: task.stopCode,
    stoppedAt: time(task.stoppedAt),
    stoppedReason: task.stoppedReason,
    stoppingAt: time(task.stoppingAt),
    taskArn: task.arn,
    taskDefinitionArn: task.taskDefinitionArn,
    updatedAt: as === 'event' ? iso(task.updatedAt) : undefined,
    version: task.version,
  }) as JsonObject;
}

function renderDeployment(cluster: Cluster, d: Deployment, launchType: string): JsonObject {
  let running = 0;
  let pending = 0;
  for (const task of cluster.tasks.values()) {
    if (task.deploymentId !== d.id) continue;
    if (task.lastStatus === 'RUNNING') running += 1;
    else if (task.lastStatus !== 'STOPPED') pending += 1;
  }
  return compact({
    id: d.id,
    status: d.status,
    taskDefinition: d.taskDefinitionArn,
    desiredCount: d.desiredCount,
    pendingCount: pending,
    runningCount: running,
    failedTasks: d.failedTasks,
    createdAt: epochSeconds(d.createdAt),
    updatedAt: epochSeconds(d.updatedAt),
    launchType,
    platformVersion: launchType === 'FARGATE' ? '1.4.0' : undefined,
    platformFamily: launchType === 'FARGATE' ? 'Linux' : undefined,
    rolloutState: d.rolloutState,
    rolloutStateReason: d.rolloutStateReason,
  }) as JsonObject;
}

export function renderService(model: EcsModel, service: Service, withTags: boolean): JsonObject {
  const cluster = model.cluster(service.clusterArn);
  const deployments = service.deployments.map((d) => renderDeployment(cluster, d, service.launchType));
  const sum = (key: string): number => deployments.reduce((n, d) => n + Number(d[key] ?? 0), 0);
  return compact({
    serviceArn: service.arn,
    serviceName: service.name,
    clusterArn: service.clusterArn,
    loadBalancers: [],
    serviceRegistries: [],
    status: 'ACTIVE',
    desiredCount: service.desiredCount,
    runningCount: sum('runningCount'),
    pendingCount: sum('pendingCount'),
    launchType: service.launchType,
    platformVersion: service.launchType === 'FARGATE' ? 'LATEST' : undefined,
    platformFamily: service.launchType === 'FARGATE' ? 'Linux' : undefined,
    taskDefinition: service.taskDefinitionArn,
    deploymentConfiguration: {
      deploymentCircuitBreaker: { ...service.circuitBreaker },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
      // A service left on the default rolling update renders as before (and as moto does).
      ...(service.deploymentConfiguration.strategy === 'ROLLING'
        ? {}
        : renderStrategyConfig(service.deploymentConfiguration)),
    },
    // Service.currentServiceDeployment, "The ARN of the current service deployment" (API model).
    currentServiceDeployment: service.serviceDeployments.at(-1)?.arn,
    deployments,
    events: service.events.map((e) => ({
      id: e.id,
      createdAt: epochSeconds(e.createdAt),
      message: e.message,
    })),
    createdAt: epochSeconds(service.createdAt),
    placementConstraints: [],
    placementStrategy: [],
    schedulingStrategy: 'REPLICA',
    deploymentController: { type: service.deploymentController },
    createdBy: `arn:aws:iam::${model.account}:role/gantry-sandbox`,
    enableECSManagedTags: false,
    propagateTags: 'NONE',
    enableExecuteCommand: false,
    tags: withTags ? model.tagsOf(service.arn) : undefined,
  }) as JsonObject;
}

export function renderTaskDefinition(model: EcsModel, td: TaskDefinitionRecord): JsonObject {
  const body = td.body;
  const extra = model.unmodeledFields;
  return compact({
    ...body,
    ...extra.taskDefinition,
    tags: undefined,
    taskDefinitionArn: td.arn,
    containerDefinitions: ((body.containerDefinitions as JsonObject[]) ?? []).map((container) => ({
      ...withContainerDefaults(container),
      ...extra.containerDefinition,
    })),
    family: td.family,
    revision: td.revision,
    volumes: body.volumes ?? [],
    status: 'ACTIVE',
    requiresAttributes: requiresAttributes(body).map((name) => ({ name })),
    placementConstraints: body.placementConstraints ?? [],
    compatibilities: compatibilities(body),
    registeredAt: epochSeconds(td.registeredAt),
    registeredBy: `arn:aws:sts::${model.account}:assumed-role/gantry-sandbox/emulator`,
  }) as JsonObject;
}

/** The defaults ECS fills into each container definition it returns. */
function withContainerDefaults(container: JsonObject): JsonObject {
  return {
    cpu: 0,
    portMappings: [],
    essential: true,
    environment: [],
    mountPoints: [],
    volumesFrom: [],
    systemControls: [],
    ...container,
  };
}

/** An approximation of the capabilities ECS derives from a task definition. */
function requiresAttributes(body: JsonObject): string[] {
  const names = new Set<string>(['com.amazonaws.ecs.capability.docker-remote-api.1.18']);
  const containers = (body.containerDefinitions as JsonObject[]) ?? [];
  if (body.taskRoleArn !== undefined) names.add('com.amazonaws.ecs.capability.task-iam-role');
  if (body.networkMode === 'awsvpc') names.add('ecs.capability.task-eni');
  for (const c of containers) {
    if (body.executionRoleArn !== undefined && /\.dkr\.ecr\./.test(String(c.image))) {
      names.add('com.amazonaws.ecs.capability.ecr-auth');
      names.add('ecs.capability.execution-role-ecr-pull');
    }
    const log = c.logConfiguration;
    if (isObject(log) && log.logDriver === 'awslogs') {
      names.add('com.amazonaws.ecs.capability.logging-driver.awslogs');
      names.add('com.amazonaws.ecs.capability.docker-remote-api.1.19');
      if (body.executionRoleArn !== undefined) names.add('ecs.capability.execution-role-awslogs');
    }
    if (Array.isArray(c.secrets) && c.secrets.length > 0)
      names.add('ecs.capability.secrets.asm.environment-variables');
  }
  return [...names];
}

function compatibilities(body: JsonObject): string[] {
  const fargate = body.networkMode === 'awsvpc' && body.cpu !== undefined && body.memory !== undefined;
  return fargate ? ['EC2', 'FARGATE'] : ['EC2'];
}

function revisionSummary(
  record: ServiceDeploymentRecord,
  revision: ServiceRevision,
  productionWeight: number,
  testWeight: number,
): JsonObject {
  let running = 0;
  let pending = 0;
  for (const task of record.cluster.tasks.values()) {
    if (task.deploymentId !== revision.deploymentId) continue;
    if (task.lastStatus === 'RUNNING') running += 1;
    else if (task.lastStatus !== 'STOPPED') pending += 1;
  }
  return {
    arn: revision.arn,
    requestedTaskCount: running + pending === 0 ? 0 : record.deployment.desiredCount,
    runningTaskCount: running,
    pendingTaskCount: pending,
    requestedTestTrafficWeight: testWeight,
    requestedProductionTrafficWeight: productionWeight,
  };
}

/** A ServiceDeployment as DescribeServiceDeployments returns it (API model, models_0.d.ts). */
export function renderServiceDeployment(record: ServiceDeploymentRecord): JsonObject {
  const time = (ms: number | undefined): number | undefined =>
    ms === undefined ? undefined : epochSeconds(ms);
  return compact({
    serviceDeploymentArn: record.arn,
    serviceArn: record.service.arn,
    clusterArn: record.cluster.arn,
    createdAt: epochSeconds(record.createdAt),
    startedAt: time(record.startedAt),
    finishedAt: time(record.finishedAt),
    stoppedAt: time(record.stoppedAt),
    updatedAt: epochSeconds(record.updatedAt),
    // The production revision carries the traffic the target does not; superseded revisions none.
    sourceServiceRevisions: record.sources.map((source, i) =>
      revisionSummary(
        record,
        source,
        i === 0 ? 100 - record.productionWeight : 0,
        i === 0 ? 100 - record.testWeight : 0,
      ),
    ),
    targetServiceRevision: revisionSummary(record, record.target, record.productionWeight, record.testWeight),
    status: record.status,
    statusReason: record.statusReason,
    lifecycleStage: record.lifecycleStage === '' ? undefined : record.lifecycleStage,
    lifecycleHookDetails: record.hooks.map((h) =>
      compact({
        hookId: h.hookId,
        targetType: h.targetType,
        targetArn: h.targetArn,
        status: h.status,
        expiresAt: epochSeconds(h.expiresAt),
        timeoutAction: h.timeoutAction,
      }),
    ),
    deploymentConfiguration: renderStrategyConfig(record.config),
    rollback:
      record.rollback === undefined
        ? undefined
        : {
            reason: record.rollback.reason,
            startedAt: epochSeconds(record.rollback.startedAt),
            serviceRevisionArn: record.rollback.serviceRevisionArn,
          },
    deploymentCircuitBreaker: { status: 'DISABLED' },
    alarms: { status: 'DISABLED' },
  }) as JsonObject;
}

/** A ServiceDeploymentBrief as ListServiceDeployments returns it (API model, models_1.d.ts). */
export function renderServiceDeploymentBrief(record: ServiceDeploymentRecord): JsonObject {
  return compact({
    serviceDeploymentArn: record.arn,
    serviceArn: record.service.arn,
    clusterArn: record.cluster.arn,
    startedAt: record.startedAt === undefined ? undefined : epochSeconds(record.startedAt),
    createdAt: epochSeconds(record.createdAt),
    finishedAt: record.finishedAt === undefined ? undefined : epochSeconds(record.finishedAt),
    targetServiceRevisionArn: record.target.arn,
    status: record.status,
    statusReason: record.statusReason,
  }) as JsonObject;
}
