import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { SimClock } from './clock.ts';
import type { EcrState } from './ecr.ts';
import type { AwsEvent, EventHub } from './events.ts';
import {
  AwsError,
  checkKeys,
  compact,
  epochSeconds,
  isObject,
  type Json,
  type JsonObject,
  type Params,
  type ServiceDefinition,
  UnsupportedParameter,
} from './protocol.ts';

/** How the tasks of an image behave once a deployment starts them. */
export type ScenarioName = 'healthy' | 'crashLoop' | 'slow' | 'neverStable';

/**
 * The outcome of deploying an image. A bare name takes the defaults:
 * - `healthy`: tasks RUNNING after 10 s, deployment COMPLETED after `stableAfterSeconds` (30);
 * - `slow`: the same with 60 s and 900 s;
 * - `crashLoop`: each task exits 5 s after RUNNING (exit code 1, `EssentialContainerExited`) and is
 *   replaced 10 s later; the deployment FAILS only if the circuit breaker is on (and rolls back if
 *   `rollback`), else it crash-loops forever;
 * - `neverStable`: tasks stay PENDING and the deployment stays IN_PROGRESS forever.
 */
export type Scenario =
  | ScenarioName
  | {
      readonly kind: 'healthy' | 'slow';
      readonly startSeconds?: number;
      readonly stableAfterSeconds?: number;
    }
  | {
      readonly kind: 'crashLoop';
      readonly startSeconds?: number;
      readonly crashAfterSeconds?: number;
      readonly restartDelaySeconds?: number;
    }
  | { readonly kind: 'neverStable' };

interface ResolvedScenario {
  readonly kind: ScenarioName;
  readonly startMs: number;
  readonly stableAfterMs: number;
  readonly crashAfterMs: number;
  readonly restartDelayMs: number;
}

function resolveScenario(scenario: Scenario): ResolvedScenario {
  const spec = typeof scenario === 'string' ? { kind: scenario } : scenario;
  const slow = spec.kind === 'slow';
  const num = (key: string, fallback: number): number => {
    const value = (spec as Record<string, unknown>)[key];
    return (typeof value === 'number' ? value : fallback) * 1000;
  };
  const stableAfterMs = num('stableAfterSeconds', slow ? 900 : 30);
  return {
    kind: spec.kind,
    startMs: Math.min(num('startSeconds', slow ? 60 : spec.kind === 'crashLoop' ? 5 : 10), stableAfterMs),
    stableAfterMs,
    crashAfterMs: num('crashAfterSeconds', 5),
    restartDelayMs: num('restartDelaySeconds', 10),
  };
}

/** Seeding input of {@link EcsState.createService}. */
export interface CreateServiceInput {
  readonly cluster: string;
  readonly service: string;
  /** A RegisterTaskDefinition request body: registered as the family's next revision (1 on a fresh emulator). */
  readonly taskDefinition: JsonObject;
  readonly desiredCount: number;
  readonly circuitBreaker?: { readonly enable: boolean; readonly rollback: boolean };
  readonly launchType?: 'FARGATE' | 'EC2';
  /** The service's tags (Gantry deploys only services tagged `gantry:managed` = `true`). */
  readonly tags?: readonly { readonly key: string; readonly value: string }[];
}

type Tag = { key: string; value: string };

interface TaskDefinitionRecord {
  readonly arn: string;
  readonly family: string;
  readonly revision: number;
  readonly body: JsonObject;
  readonly registeredAt: number;
}

interface Deployment {
  readonly id: string;
  status: 'PRIMARY' | 'ACTIVE';
  readonly taskDefinitionArn: string;
  readonly desiredCount: number;
  failedTasks: number;
  rolloutState: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  rolloutStateReason: string;
  readonly createdAt: number;
  updatedAt: number;
  readonly scenario: ResolvedScenario;
  readonly timers: (() => void)[];
}

interface ContainerState {
  readonly containerArn: string;
  readonly name: string;
  readonly image: string;
  readonly imageDigest: string | undefined;
  lastStatus: string;
  exitCode?: number;
  reason?: string;
}

interface Task {
  readonly arn: string;
  readonly clusterArn: string;
  readonly serviceName: string;
  readonly deploymentId: string;
  readonly taskDefinitionArn: string;
  readonly launchType: string;
  readonly cpu: string | undefined;
  readonly memory: string | undefined;
  readonly containers: ContainerState[];
  readonly createdAt: number;
  lastStatus: 'PROVISIONING' | 'PENDING' | 'RUNNING' | 'STOPPED';
  desiredStatus: 'RUNNING' | 'STOPPED';
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  stopCode?: string;
  stoppedReason?: string;
  updatedAt: number;
  version: number;
}

interface Service {
  readonly name: string;
  readonly arn: string;
  readonly clusterArn: string;
  desiredCount: number;
  taskDefinitionArn: string;
  readonly circuitBreaker: { enable: boolean; rollback: boolean };
  readonly launchType: string;
  readonly createdAt: number;
  deployments: Deployment[];
  readonly events: { id: string; createdAt: number; message: string }[];
}

interface Cluster {
  readonly name: string;
  readonly arn: string;
  readonly services: Map<string, Service>;
  readonly tasks: Map<string, Task>;
}

const TASK_DEFINITION_KEYS = [
  'family',
  'containerDefinitions',
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'volumes',
  'placementConstraints',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'tags',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'inferenceAccelerators',
  'ephemeralStorage',
  'runtimePlatform',
  'enableFaultInjection',
] as const;

const CONTAINER_DEFINITION_KEYS = [
  'name',
  'image',
  'repositoryCredentials',
  'cpu',
  'memory',
  'memoryReservation',
  'links',
  'portMappings',
  'essential',
  'restartPolicy',
  'entryPoint',
  'command',
  'environment',
  'environmentFiles',
  'mountPoints',
  'volumesFrom',
  'linuxParameters',
  'secrets',
  'dependsOn',
  'startTimeout',
  'stopTimeout',
  'versionConsistency',
  'hostname',
  'user',
  'workingDirectory',
  'disableNetworking',
  'privileged',
  'readonlyRootFilesystem',
  'dnsServers',
  'dnsSearchDomains',
  'extraHosts',
  'dockerSecurityOptions',
  'interactive',
  'pseudoTerminal',
  'dockerLabels',
  'ulimits',
  'logConfiguration',
  'healthCheck',
  'systemControls',
  'resourceRequirements',
  'firelensConfiguration',
  'credentialSpecs',
] as const;

const MAX_STOPPED_TASK_AGE_MS = 3_600_000;

/** ECS clusters, services, task definitions and tasks, with rollouts simulated on the clock. */
export class EcsState {
  readonly #clusters = new Map<string, Cluster>();
  readonly #taskDefinitions = new Map<string, TaskDefinitionRecord[]>();
  readonly #tags = new Map<string, Tag[]>();
  readonly #scenarios = new Map<string, ResolvedScenario>();
  #defaultScenario: ResolvedScenario = resolveScenario('healthy');
  readonly #clock: SimClock;
  readonly #hub: EventHub;
  readonly #ecr: EcrState;
  readonly #region: string;
  readonly #account: string;

  constructor(clock: SimClock, hub: EventHub, ecr: EcrState, region: string, account: string) {
    this.#clock = clock;
    this.#hub = hub;
    this.#ecr = ecr;
    this.#region = region;
    this.#account = account;
  }

  // ---- seeding and control API -------------------------------------------------------------

  /**
   * Creates a service whose first deployment is already COMPLETED with `desiredCount` RUNNING tasks
   * (no events: the sandbox starts from a steady state). Creates the cluster if needed.
   */
  createService(input: CreateServiceInput): {
    serviceArn: string;
    taskDefinitionArn: string;
    deploymentId: string;
  } {
    const cluster = this.#clusterOrCreate(input.cluster);
    if (cluster.services.has(input.service))
      throw new Error(`createService: ${input.service} already exists`);
    const td = this.#register(input.taskDefinition);
    const now = this.#clock.now();
    const service: Service = {
      name: input.service,
      arn: `arn:aws:ecs:${this.#region}:${this.#account}:service/${cluster.name}/${input.service}`,
      clusterArn: cluster.arn,
      desiredCount: input.desiredCount,
      taskDefinitionArn: td.arn,
      circuitBreaker: {
        enable: input.circuitBreaker?.enable ?? false,
        rollback: input.circuitBreaker?.rollback ?? false,
      },
      launchType: input.launchType ?? 'FARGATE',
      createdAt: now,
      deployments: [],
      events: [],
    };
    const deployment = this.#newDeployment(service, td.arn, 'ECS deployment seeded by the Gantry sandbox.');
    deployment.rolloutState = 'COMPLETED';
    deployment.rolloutStateReason = `ECS deployment ${deployment.id} completed.`;
    service.deployments = [deployment];
    cluster.services.set(service.name, service);
    if (input.tags !== undefined) this.#addTags(service.arn, input.tags);
    for (let i = 0; i < input.desiredCount; i++) {
      const task = this.#newTask(cluster, service, deployment);
      task.lastStatus = 'RUNNING';
      task.startedAt = now;
    }
    return { serviceArn: service.arn, taskDefinitionArn: td.arn, deploymentId: deployment.id };
  }

  /**
   * Chooses what happens when a deployment runs `image`: key by image reference
   * (`web:v2`, `<registry>/web:v2`, `web@sha256:…`) or by digest (`sha256:…`). A tag is also matched
   * through the digest ECR resolves it to, so a scenario set on a digest follows its tags.
   */
  setScenario(image: string, scenario: Scenario): void {
    this.#scenarios.set(scenarioKey(image), resolveScenario(scenario));
  }

  /** The scenario for images without one (default: healthy after 30 simulated seconds). */
  setDefaultScenario(scenario: Scenario): void {
    this.#defaultScenario = resolveScenario(scenario);
  }

  /**
   * Swallows ECS events matching `predicate` (they still appear in `emulator.events.dropped`), to
   * test what Gantry does when EventBridge loses one. Returns a function that stops dropping.
   */
  dropEvents(predicate: (event: AwsEvent) => boolean): () => void {
    return this.#hub.dropWhen((event) => event.source === 'aws.ecs' && predicate(event));
  }

  /** A service as DescribeServices renders it, for assertions and progress displays. */
  describeService(cluster: string, service: string): JsonObject {
    return this.#renderService(this.#service(this.#cluster(cluster), service), false);
  }

  // ---- rollout simulator ----------------------------------------------------------------

  #scenarioFor(td: TaskDefinitionRecord): ResolvedScenario {
    const containers = (td.body.containerDefinitions as JsonObject[]) ?? [];
    const essential = containers.find((c) => c.essential !== false) ?? containers[0];
    const image = typeof essential?.image === 'string' ? essential.image : '';
    for (const key of this.#imageKeys(image)) {
      const found = this.#scenarios.get(key);
      if (found !== undefined) return found;
    }
    return this.#defaultScenario;
  }

  #imageKeys(image: string): string[] {
    const ref = parseImage(image);
    const keys: string[] = [];
    const digest = ref.digest ?? this.#ecr.resolveTag(ref.repository, ref.tag ?? 'latest');
    if (digest !== undefined) keys.push(digest);
    if (ref.digest === undefined) keys.push(`${ref.repository}:${ref.tag ?? 'latest'}`);
    return keys;
  }

  #imageDigest(image: string): string | undefined {
    const ref = parseImage(image);
    return ref.digest ?? this.#ecr.resolveTag(ref.repository, ref.tag ?? 'latest');
  }

  #newDeployment(service: Service, taskDefinitionArn: string, reason: string): Deployment {
    const now = this.#clock.now();
    const td = this.#taskDefinitionByArn(taskDefinitionArn);
    return {
      id: `ecs-svc/${randomInt(1, 10)}${String(randomInt(0, 1e9)).padStart(9, '0')}${String(randomInt(0, 1e9)).padStart(9, '0')}`,
      status: 'PRIMARY',
      taskDefinitionArn,
      desiredCount: service.desiredCount,
      failedTasks: 0,
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: reason,
      createdAt: now,
      updatedAt: now,
      scenario: this.#scenarioFor(td),
      timers: [],
    };
  }

  #startDeployment(
    cluster: Cluster,
    service: Service,
    taskDefinitionArn: string,
    reason?: string,
  ): Deployment {
    for (const previous of service.deployments) {
      previous.status = 'ACTIVE';
      // A superseded deployment stops progressing; its tasks keep running until the new one drains them.
      for (const cancel of previous.timers.splice(0)) cancel();
    }
    const deployment = this.#newDeployment(service, taskDefinitionArn, '');
    deployment.rolloutStateReason = reason ?? `ECS deployment ${deployment.id} in progress.`;
    service.deployments.unshift(deployment);
    service.taskDefinitionArn = taskDefinitionArn;
    this.#emitDeployment(service, deployment, 'INFO', 'SERVICE_DEPLOYMENT_IN_PROGRESS');
    const started: string[] = [];
    for (let i = 0; i < deployment.desiredCount; i++)
      started.push(this.#launch(cluster, service, deployment).arn);
    this.#serviceEvent(
      service,
      `(service ${service.name}) has started ${started.length} tasks: ${started.map((arn) => `(task ${taskId(arn)})`).join(' ')}.`,
    );
    const { scenario } = deployment;
    if (scenario.kind === 'healthy' || scenario.kind === 'slow') {
      deployment.timers.push(
        this.#clock.schedule(scenario.stableAfterMs, () => this.#complete(cluster, service, deployment)),
      );
    }
    return deployment;
  }

  #launch(cluster: Cluster, service: Service, deployment: Deployment): Task {
    this.#pruneStopped(cluster);
    const task = this.#newTask(cluster, service, deployment);
    this.#emitTask(task);
    const { scenario } = deployment;
    if (scenario.kind === 'neverStable') return task;
    this.#clock.schedule(scenario.startMs, () => {
      if (task.lastStatus === 'STOPPED') return;
      task.lastStatus = 'RUNNING';
      task.startedAt = this.#clock.now();
      for (const c of task.containers) c.lastStatus = 'RUNNING';
      this.#touch(task);
      this.#emitTask(task);
    });
    if (scenario.kind === 'crashLoop') {
      this.#clock.schedule(scenario.startMs + scenario.crashAfterMs, () =>
        this.#crash(cluster, service, deployment, task),
      );
    }
    return task;
  }

  #crash(cluster: Cluster, service: Service, deployment: Deployment, task: Task): void {
    if (task.lastStatus === 'STOPPED') return;
    const now = this.#clock.now();
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stoppingAt = now;
    task.stoppedAt = now;
    task.stopCode = 'EssentialContainerExited';
    task.stoppedReason = 'Essential container in task exited';
    for (const c of task.containers) {
      c.lastStatus = 'STOPPED';
      c.exitCode = 1;
    }
    this.#touch(task);
    this.#emitTask(task);
    deployment.failedTasks += 1;
    deployment.updatedAt = now;
    if (deployment.status !== 'PRIMARY' || deployment.rolloutState !== 'IN_PROGRESS') return;
    if (
      service.circuitBreaker.enable &&
      deployment.failedTasks >= circuitBreakerThreshold(deployment.desiredCount)
    ) {
      this.#fail(cluster, service, deployment);
      return;
    }
    deployment.timers.push(
      this.#clock.schedule(deployment.scenario.restartDelayMs, () => {
        if (deployment.status === 'PRIMARY' && deployment.rolloutState === 'IN_PROGRESS') {
          this.#launch(cluster, service, deployment);
        }
      }),
    );
  }

  #fail(cluster: Cluster, service: Service, deployment: Deployment): void {
    deployment.rolloutState = 'FAILED';
    deployment.rolloutStateReason = 'ECS deployment circuit breaker: task failed to start.';
    deployment.updatedAt = this.#clock.now();
    for (const cancel of deployment.timers.splice(0)) cancel();
    this.#emitDeployment(service, deployment, 'ERROR', 'SERVICE_DEPLOYMENT_FAILED');
    this.#serviceEvent(
      service,
      `(service ${service.name}) (deployment ${deployment.id}) deployment failed: tasks failed to start.`,
    );
    if (!service.circuitBreaker.rollback) return;
    // ECS rolls back only to a deployment that completed.
    const target = service.deployments.find((d) => d !== deployment && d.rolloutState === 'COMPLETED');
    if (target === undefined) return;
    this.#startDeployment(
      cluster,
      service,
      target.taskDefinitionArn,
      `ECS deployment circuit breaker: rolling back to deploymentId ${target.id}.`,
    );
  }

  #complete(cluster: Cluster, service: Service, deployment: Deployment): void {
    if (deployment.status !== 'PRIMARY' || deployment.rolloutState !== 'IN_PROGRESS') return;
    const now = this.#clock.now();
    for (const task of cluster.tasks.values()) {
      if (
        task.deploymentId === deployment.id &&
        task.lastStatus !== 'STOPPED' &&
        task.lastStatus !== 'RUNNING'
      ) {
        task.lastStatus = 'RUNNING';
        task.startedAt = now;
        this.#touch(task);
        this.#emitTask(task);
      }
    }
    deployment.rolloutState = 'COMPLETED';
    deployment.rolloutStateReason = `ECS deployment ${deployment.id} completed.`;
    deployment.updatedAt = now;
    for (const old of service.deployments) {
      if (old === deployment) continue;
      for (const cancel of old.timers.splice(0)) cancel();
      for (const task of cluster.tasks.values()) {
        if (task.deploymentId !== old.id || task.lastStatus === 'STOPPED') continue;
        task.desiredStatus = 'STOPPED';
        task.lastStatus = 'STOPPED';
        task.stoppingAt = now;
        task.stoppedAt = now;
        task.stopCode = 'ServiceSchedulerInitiated';
        task.stoppedReason = `Scaling activity initiated by (deployment ${deployment.id})`;
        for (const c of task.containers) {
          c.lastStatus = 'STOPPED';
          c.exitCode = 0;
        }
        this.#touch(task);
        this.#emitTask(task);
      }
    }
    service.deployments = [deployment];
    this.#emitDeployment(service, deployment, 'INFO', 'SERVICE_DEPLOYMENT_COMPLETED');
    this.#serviceEvent(
      service,
      `(service ${service.name}) (deployment ${deployment.id}) deployment completed.`,
    );
    this.#serviceEvent(service, `(service ${service.name}) has reached a steady state.`);
  }

  #newTask(cluster: Cluster, service: Service, deployment: Deployment): Task {
    const id = randomBytes(16).toString('hex');
    const arn = `arn:aws:ecs:${this.#region}:${this.#account}:task/${cluster.name}/${id}`;
    const td = this.#taskDefinitionByArn(deployment.taskDefinitionArn);
    const now = this.#clock.now();
    const task: Task = {
      arn,
      clusterArn: cluster.arn,
      serviceName: service.name,
      deploymentId: deployment.id,
      taskDefinitionArn: td.arn,
      launchType: service.launchType,
      cpu: typeof td.body.cpu === 'string' ? td.body.cpu : undefined,
      memory: typeof td.body.memory === 'string' ? td.body.memory : undefined,
      containers: ((td.body.containerDefinitions as JsonObject[]) ?? []).map((c) => ({
        containerArn: `arn:aws:ecs:${this.#region}:${this.#account}:container/${cluster.name}/${id}/${randomUUID()}`,
        name: String(c.name),
        image: String(c.image),
        imageDigest: this.#imageDigest(String(c.image)),
        lastStatus: 'PENDING',
      })),
      createdAt: now,
      lastStatus: 'PENDING',
      desiredStatus: 'RUNNING',
      updatedAt: now,
      version: 1,
    };
    cluster.tasks.set(arn, task);
    return task;
  }

  #touch(task: Task): void {
    task.updatedAt = this.#clock.now();
    task.version += 1;
  }

  #pruneStopped(cluster: Cluster): void {
    const cutoff = this.#clock.now() - MAX_STOPPED_TASK_AGE_MS;
    for (const [arn, task] of cluster.tasks) {
      if (task.stoppedAt !== undefined && task.stoppedAt < cutoff) cluster.tasks.delete(arn);
    }
  }

  #serviceEvent(service: Service, message: string): void {
    service.events.unshift({ id: randomUUID(), createdAt: this.#clock.now(), message });
    service.events.length = Math.min(service.events.length, 100);
  }

  #emitDeployment(
    service: Service,
    deployment: Deployment,
    eventType: 'INFO' | 'ERROR',
    eventName: string,
  ): void {
    this.#hub.emit({
      source: 'aws.ecs',
      detailType: 'ECS Deployment State Change',
      resources: [service.arn],
      detail: {
        eventType,
        eventName,
        deploymentId: deployment.id,
        updatedAt: iso(deployment.updatedAt),
        reason: deployment.rolloutStateReason,
      },
    });
  }

  #emitTask(task: Task): void {
    this.#hub.emit({
      source: 'aws.ecs',
      detailType: 'ECS Task State Change',
      resources: [task.arn],
      detail: this.#renderTask(task, 'event'),
    });
  }

  // ---- rendering ------------------------------------------------------------------------

  #renderTask(task: Task, as: 'api' | 'event'): JsonObject {
    const time = (ms: number | undefined): Json | undefined =>
      ms === undefined ? undefined : as === 'api' ? epochSeconds(ms) : iso(ms);
    return compact({
      attachments: [],
      availabilityZone: `${this.#region}a`,
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

  #renderDeployment(cluster: Cluster, d: Deployment, launchType: string): JsonObject {
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

  #renderService(service: Service, withTags: boolean): JsonObject {
    const cluster = this.#cluster(service.clusterArn);
    const deployments = service.deployments.map((d) =>
      this.#renderDeployment(cluster, d, service.launchType),
    );
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
      },
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
      deploymentController: { type: 'ECS' },
      createdBy: `arn:aws:iam::${this.#account}:role/gantry-sandbox`,
      enableECSManagedTags: false,
      propagateTags: 'NONE',
      enableExecuteCommand: false,
      tags: withTags ? this.#tagsOf(service.arn) : undefined,
    }) as JsonObject;
  }

  #renderTaskDefinition(td: TaskDefinitionRecord): JsonObject {
    const body = td.body;
    return compact({
      ...body,
      tags: undefined,
      taskDefinitionArn: td.arn,
      containerDefinitions: ((body.containerDefinitions as JsonObject[]) ?? []).map(withContainerDefaults),
      family: td.family,
      revision: td.revision,
      volumes: body.volumes ?? [],
      status: 'ACTIVE',
      requiresAttributes: requiresAttributes(body).map((name) => ({ name })),
      placementConstraints: body.placementConstraints ?? [],
      compatibilities: compatibilities(body),
      registeredAt: epochSeconds(td.registeredAt),
      registeredBy: `arn:aws:sts::${this.#account}:assumed-role/gantry-sandbox/emulator`,
    }) as JsonObject;
  }

  // ---- lookups ----------------------------------------------------------------------------

  #clusterOrCreate(name: string): Cluster {
    const existing = this.#clusters.get(name);
    if (existing !== undefined) return existing;
    const cluster: Cluster = {
      name,
      arn: `arn:aws:ecs:${this.#region}:${this.#account}:cluster/${name}`,
      services: new Map(),
      tasks: new Map(),
    };
    this.#clusters.set(name, cluster);
    return cluster;
  }

  #cluster(ref: string | undefined): Cluster {
    const name = (ref ?? 'default').replace(/^arn:aws:ecs:[^:]+:\d+:cluster\//, '');
    const cluster = this.#clusters.get(name);
    if (cluster === undefined) throw new AwsError('ClusterNotFoundException', 'Cluster not found.');
    return cluster;
  }

  #service(cluster: Cluster, ref: string): Service {
    const name = ref.replace(/^arn:aws:ecs:[^:]+:\d+:service\/(?:[^/]+\/)?/, '');
    const service = cluster.services.get(name);
    if (service === undefined) throw new AwsError('ServiceNotFoundException', 'Service not found.');
    return service;
  }

  #taskDefinitionByArn(arn: string): TaskDefinitionRecord {
    const found = this.#findTaskDefinition(arn);
    if (found === undefined) throw new Error(`emulator bug: unknown task definition ${arn}`);
    return found;
  }

  #findTaskDefinition(ref: string): TaskDefinitionRecord | undefined {
    const short = ref.replace(/^arn:aws:ecs:[^:]+:\d+:task-definition\//, '');
    const [family, revision] = short.split(':');
    const revisions = this.#taskDefinitions.get(family ?? '');
    if (revisions === undefined) return undefined;
    return revision === undefined ? revisions.at(-1) : revisions.find((r) => r.revision === Number(revision));
  }

  #tagsOf(arn: string): Tag[] {
    return (this.#tags.get(arn) ?? []).map((t) => ({ ...t }));
  }

  #addTags(arn: string, tags: readonly Tag[]): void {
    const current = this.#tags.get(arn) ?? [];
    for (const tag of tags) {
      const at = current.findIndex((t) => t.key === tag.key);
      if (at >= 0) current[at] = { ...tag };
      else current.push({ ...tag });
    }
    this.#tags.set(arn, current);
  }

  #register(raw: JsonObject): TaskDefinitionRecord {
    checkKeys('RegisterTaskDefinition', raw, TASK_DEFINITION_KEYS);
    const family = raw.family;
    if (typeof family !== 'string' || !/^[a-zA-Z0-9_-]{1,255}$/.test(family)) {
      throw new AwsError(
        'ClientException',
        'Family contains invalid characters: up to 255 letters, numbers, hyphens and underscores are allowed.',
      );
    }
    const containers = raw.containerDefinitions;
    if (!Array.isArray(containers) || containers.length === 0) {
      throw new AwsError('ClientException', 'Container list cannot be empty.');
    }
    for (const container of containers) {
      if (!isObject(container))
        throw new AwsError('ClientException', 'Container definitions must be objects.');
      checkKeys('RegisterTaskDefinition containerDefinitions[]', container, CONTAINER_DEFINITION_KEYS);
      if (typeof container.name !== 'string' || typeof container.image !== 'string') {
        throw new AwsError(
          'ClientException',
          'Container.name and Container.image should not be null or empty.',
        );
      }
      if (
        raw.memory === undefined &&
        container.memory === undefined &&
        container.memoryReservation === undefined
      ) {
        throw new AwsError(
          'ClientException',
          `Invalid setting for container '${container.name}'. At least one of 'memory' or 'memoryReservation' must be specified.`,
        );
      }
    }
    const tags = raw.tags;
    if (tags !== undefined && !(Array.isArray(tags) && tags.every(isTag))) {
      throw new AwsError('InvalidParameterException', 'tags must be a list of {key, value}');
    }
    const revisions = this.#taskDefinitions.get(family) ?? [];
    const revision = (revisions.at(-1)?.revision ?? 0) + 1;
    const record: TaskDefinitionRecord = {
      arn: `arn:aws:ecs:${this.#region}:${this.#account}:task-definition/${family}:${revision}`,
      family,
      revision,
      body: structuredClone(raw),
      registeredAt: this.#clock.now(),
    };
    revisions.push(record);
    this.#taskDefinitions.set(family, revisions);
    if (Array.isArray(tags)) this.#addTags(record.arn, tags as Tag[]);
    return record;
  }

  // ---- API -----------------------------------------------------------------------------

  service(): ServiceDefinition {
    return {
      name: 'ecs',
      targetPrefix: 'AmazonEC2ContainerServiceV20141113',
      validationError: 'InvalidParameterException',
      operations: {
        DescribeServices: {
          keys: ['cluster', 'services', 'include'],
          handle: (p: Params) => {
            const cluster = this.#cluster(p.string('cluster'));
            const refs = p.stringArray('services') ?? [];
            if (refs.length === 0 || refs.length > 10) throw p.invalid('services must name 1 to 10 services');
            const withTags = includes(p, 'TAGS');
            const services: JsonObject[] = [];
            const failures: JsonObject[] = [];
            for (const ref of refs) {
              const name = ref.replace(/^arn:aws:ecs:[^:]+:\d+:service\/(?:[^/]+\/)?/, '');
              const service = cluster.services.get(name);
              if (service === undefined) {
                failures.push({
                  arn: ref.startsWith('arn:')
                    ? ref
                    : `arn:aws:ecs:${this.#region}:${this.#account}:service/${cluster.name}/${ref}`,
                  reason: 'MISSING',
                });
              } else {
                services.push(this.#renderService(service, withTags));
              }
            }
            return { services, failures };
          },
        },
        DescribeTaskDefinition: {
          keys: ['taskDefinition', 'include'],
          handle: (p: Params) => {
            const td = this.#findTaskDefinition(p.requiredString('taskDefinition'));
            if (td === undefined)
              throw new AwsError('ClientException', 'Unable to describe task definition.');
            return compact({
              taskDefinition: this.#renderTaskDefinition(td),
              tags: includes(p, 'TAGS') ? this.#tagsOf(td.arn) : undefined,
            });
          },
        },
        RegisterTaskDefinition: {
          keys: TASK_DEFINITION_KEYS,
          handle: (p: Params) => {
            const td = this.#register(p.raw);
            return compact({
              taskDefinition: this.#renderTaskDefinition(td),
              tags: p.has('tags') ? this.#tagsOf(td.arn) : undefined,
            });
          },
        },
        UpdateService: {
          keys: ['cluster', 'service', 'taskDefinition', 'forceNewDeployment', 'desiredCount'],
          handle: (p: Params) => {
            const cluster = this.#cluster(p.string('cluster'));
            const service = this.#service(cluster, p.requiredString('service'));
            const ref = p.string('taskDefinition');
            const td = ref === undefined ? undefined : this.#findTaskDefinition(ref);
            if (ref !== undefined && td === undefined) {
              throw new AwsError('ClientException', 'TaskDefinition not found.');
            }
            const target = td?.arn ?? service.taskDefinitionArn;
            const deploy = target !== service.taskDefinitionArn || p.boolean('forceNewDeployment') === true;
            const desiredCount = p.number('desiredCount');
            if (desiredCount !== undefined && !deploy && desiredCount !== service.desiredCount) {
              throw new UnsupportedParameter(
                'UpdateService: scaling (desiredCount) without a new deployment is not simulated',
              );
            }
            if (desiredCount !== undefined) {
              if (!Number.isInteger(desiredCount) || desiredCount < 0)
                throw p.invalid('desiredCount must be >= 0');
              service.desiredCount = desiredCount;
            }
            if (deploy) this.#startDeployment(cluster, service, target);
            return { service: this.#renderService(service, false) };
          },
        },
        ListTasks: {
          keys: ['cluster', 'serviceName', 'startedBy', 'desiredStatus', 'maxResults', 'nextToken'],
          handle: (p: Params) => {
            const cluster = this.#cluster(p.string('cluster'));
            const serviceName = p.string('serviceName');
            if (serviceName !== undefined) this.#service(cluster, serviceName);
            const startedBy = p.string('startedBy');
            const desired = p.string('desiredStatus') ?? 'RUNNING';
            if (!['RUNNING', 'PENDING', 'STOPPED'].includes(desired)) {
              throw p.invalid(`desiredStatus '${desired}' is not RUNNING, PENDING or STOPPED`);
            }
            this.#pruneStopped(cluster);
            const arns = [...cluster.tasks.values()]
              .filter(
                (t) =>
                  t.desiredStatus === desired &&
                  (serviceName === undefined || t.serviceName === serviceName.replace(/^.*\//, '')) &&
                  (startedBy === undefined || t.deploymentId === startedBy),
              )
              .map((t) => t.arn);
            const size = p.number('maxResults') ?? 100;
            if (!Number.isInteger(size) || size < 1 || size > 100)
              throw p.invalid('maxResults must be 1 to 100');
            const token = p.string('nextToken');
            const start = token === undefined ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
            if (!Number.isInteger(start) || start < 0) throw p.invalid('nextToken is not valid');
            const end = start + size;
            return compact({
              taskArns: arns.slice(start, end),
              nextToken: end < arns.length ? Buffer.from(String(end)).toString('base64url') : undefined,
            });
          },
        },
        DescribeTasks: {
          keys: ['cluster', 'tasks', 'include'],
          handle: (p: Params) => {
            const cluster = this.#cluster(p.string('cluster'));
            const refs = p.stringArray('tasks') ?? [];
            if (refs.length === 0 || refs.length > 100) throw p.invalid('tasks must name 1 to 100 tasks');
            if (includes(p, 'TAGS'))
              throw new UnsupportedParameter('DescribeTasks: include TAGS is not emulated');
            const tasks: JsonObject[] = [];
            const failures: JsonObject[] = [];
            for (const ref of refs) {
              const task =
                cluster.tasks.get(ref) ?? [...cluster.tasks.values()].find((t) => taskId(t.arn) === ref);
              if (task === undefined) failures.push({ arn: ref, reason: 'MISSING' });
              else tasks.push(this.#renderTask(task, 'api'));
            }
            return { tasks, failures };
          },
        },
        TagResource: {
          keys: ['resourceArn', 'tags'],
          handle: (p: Params) => {
            const arn = p.requiredString('resourceArn');
            const tags = p.objectArray('tags', ['key', 'value']) ?? [];
            if (!tags.every(isTag)) throw p.invalid('tags must be a list of {key, value}');
            if (!this.#resourceExists(arn)) {
              throw new AwsError('ResourceNotFoundException', `The specified resource ${arn} is not found.`);
            }
            this.#addTags(arn, tags as Tag[]);
            return {};
          },
        },
      },
    };
  }

  #resourceExists(arn: string): boolean {
    if (arn.includes(':task-definition/')) return this.#findTaskDefinition(arn) !== undefined;
    for (const cluster of this.#clusters.values()) {
      if (cluster.arn === arn || cluster.tasks.has(arn)) return true;
      for (const service of cluster.services.values()) if (service.arn === arn) return true;
    }
    return false;
  }
}

function includes(p: Params, value: string): boolean {
  const include = p.stringArray('include') ?? [];
  for (const item of include) {
    if (item !== 'TAGS') throw new UnsupportedParameter(`include '${item}' is not emulated (TAGS only)`);
  }
  return include.includes(value);
}

function isTag(value: Json): boolean {
  return (
    isObject(value) &&
    typeof value.key === 'string' &&
    (value.value === undefined || typeof value.value === 'string')
  );
}

/** ECS's failure threshold: half the desired count, at least 3 and at most 200. */
export function circuitBreakerThreshold(desiredCount: number): number {
  return Math.min(200, Math.max(3, Math.ceil(desiredCount * 0.5)));
}

function taskId(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Splits `[registry/]repository[:tag][@digest]`. */
export function parseImage(image: string): { repository: string; tag?: string; digest?: string } {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = rest.slice(0, Math.max(0, slash));
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    rest = rest.slice(slash + 1);
  }
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return compact({ repository: rest, tag, digest });
}

function scenarioKey(image: string): string {
  if (image.startsWith('sha256:')) return image;
  const ref = parseImage(image);
  return ref.digest ?? `${ref.repository}:${ref.tag ?? 'latest'}`;
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
