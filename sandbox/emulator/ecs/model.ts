import { randomInt } from 'node:crypto';
import type { SimClock } from '../clock.ts';
import { AwsError, checkKeys, compact, isObject, type Json, type JsonObject } from '../protocol.ts';
import type { HookAction, HookTargetType, StrategyConfig } from './strategy-config.ts';

/** How the tasks of an image behave once a deployment starts them. */
export type ScenarioName = 'healthy' | 'crashLoop' | 'slow' | 'neverStable';

/**
 * The outcome of deploying an image. A bare name takes the defaults:
 * - `healthy`: tasks RUNNING after 10 s, deployment COMPLETED after `stableAfterSeconds` (30);
 * - `slow`: the same with 60 s and 900 s;
 * - `crashLoop`: each task exits 5 s after RUNNING (exit code 1, `EssentialContainerExited`) and is
 *   replaced 10 s later; the deployment FAILS only if the circuit breaker is on (and rolls back if
 *   `rollback`, `breakerRollbackDelaySeconds` (0) after failing it), else it crash-loops forever;
 * - `neverStable`: tasks stay PENDING and the deployment stays IN_PROGRESS forever.
 */
export type Scenario =
  | ScenarioName
  | {
      readonly kind: 'healthy' | 'slow';
      readonly startSeconds?: number;
      readonly stableAfterSeconds?: number;
      /**
       * Blue/green, linear and canary only: once the service deployment running this image enters
       * this lifecycle stage (e.g. `BAKE_TIME`), its tasks start crash-looping as `crashLoop` does
       * (`crashAfterSeconds` after RUNNING, replaced `restartDelaySeconds` later).
       */
      readonly crashFromStage?: string;
      readonly crashAfterSeconds?: number;
      readonly restartDelaySeconds?: number;
    }
  | {
      readonly kind: 'crashLoop';
      readonly startSeconds?: number;
      readonly crashAfterSeconds?: number;
      readonly restartDelaySeconds?: number;
      /** How long ECS takes, after its circuit breaker failed the deployment, to start rolling back. */
      readonly breakerRollbackDelaySeconds?: number;
    }
  | { readonly kind: 'neverStable' };

export interface ResolvedScenario {
  readonly kind: ScenarioName;
  readonly startMs: number;
  readonly stableAfterMs: number;
  readonly crashAfterMs: number;
  readonly restartDelayMs: number;
  readonly breakerRollbackDelayMs: number;
  readonly crashFromStage: string | undefined;
}

export function resolveScenario(scenario: Scenario): ResolvedScenario {
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
    breakerRollbackDelayMs: num('breakerRollbackDelaySeconds', 0),
    crashFromStage:
      'crashFromStage' in spec && typeof spec.crashFromStage === 'string' ? spec.crashFromStage : undefined,
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
  /** Default `ECS` (rolling update); the others refuse a new task definition through UpdateService. */
  readonly deploymentController?: DeploymentControllerType;
  /** The service's tags, as CreateService's `tags`. */
  readonly tags?: readonly Tag[];
  /**
   * CreateService's `deploymentConfiguration` (strategy, bake times, lifecycle hooks), checked as
   * UpdateService checks it. Default: ROLLING.
   */
  readonly deploymentConfiguration?: JsonObject;
  /**
   * `completed` (default): the first deployment is over and `desiredCount` tasks run.
   * `inProgress` (blue/green, linear, canary only): the first service deployment starts now and
   * goes through its stages and hooks like any other; rolling it back ends ROLLBACK_FAILED.
   */
  readonly firstDeployment?: 'completed' | 'inProgress';
}

/** Fields an ECS newer than the bundled SDK would return, on the task definition and on each container. */
export interface UnmodeledFields {
  readonly taskDefinition?: JsonObject;
  readonly containerDefinition?: JsonObject;
}

export type DeploymentControllerType = 'ECS' | 'CODE_DEPLOY' | 'EXTERNAL';

export type Tag = { key: string; value: string };

export interface TaskDefinitionRecord {
  readonly arn: string;
  readonly family: string;
  readonly revision: number;
  readonly body: JsonObject;
  readonly registeredAt: number;
}

export interface Deployment {
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
  /** Set for the deployment a blue/green, linear or canary service deployment runs. */
  serviceDeploymentArn?: string;
  /** Its tasks crash `crashAfterMs` after RUNNING and are replaced (a crash loop, or a scenario's `crashFromStage`). */
  crashing?: boolean;
}

export interface ContainerState {
  readonly containerArn: string;
  readonly name: string;
  readonly image: string;
  readonly imageDigest: string | undefined;
  lastStatus: string;
  exitCode?: number;
  reason?: string;
}

export interface Task {
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

export interface Service {
  readonly name: string;
  readonly arn: string;
  readonly clusterArn: string;
  desiredCount: number;
  taskDefinitionArn: string;
  readonly circuitBreaker: { enable: boolean; rollback: boolean };
  readonly launchType: string;
  readonly deploymentController: DeploymentControllerType;
  readonly createdAt: number;
  deployments: Deployment[];
  readonly events: { id: string; createdAt: number; message: string }[];
  /** ROLLING (today's rolling update) unless CreateService/UpdateService chose another strategy. */
  deploymentConfiguration: StrategyConfig;
  /** Blue/green, linear and canary service deployments, oldest first. */
  readonly serviceDeployments: ServiceDeploymentRecord[];
  /** The revision serving production: what a rollback returns to (none before a first deployment succeeded). */
  productionRevision: ServiceRevision | undefined;
}

/** A service revision: a task definition as one deployment ran it. */
export interface ServiceRevision {
  readonly arn: string;
  readonly taskDefinitionArn: string;
  readonly deploymentId: string;
}

export type ServiceDeploymentStatus =
  | 'PENDING'
  | 'IN_PROGRESS'
  | 'SUCCESSFUL'
  | 'STOPPED'
  | 'ROLLBACK_REQUESTED'
  | 'ROLLBACK_IN_PROGRESS'
  | 'ROLLBACK_SUCCESSFUL'
  | 'ROLLBACK_FAILED';

/** One run of a lifecycle hook at one stage (or one traffic step): `lifecycleHookDetails[]`. */
export interface HookRun {
  readonly hookId: string;
  readonly targetType: HookTargetType;
  readonly targetArn: string | undefined;
  readonly lifecycleStage: string;
  status: 'IN_PROGRESS' | 'AWAITING_ACTION' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
  readonly expiresAt: number;
  readonly timeoutAction: HookAction;
}

/** A ServiceDeployment (DescribeServiceDeployments) of a blue/green, linear or canary service. */
export interface ServiceDeploymentRecord {
  readonly arn: string;
  readonly service: Service;
  readonly cluster: Cluster;
  readonly config: StrategyConfig;
  readonly createdAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  stoppedAt: number | undefined;
  updatedAt: number;
  status: ServiceDeploymentStatus;
  statusReason: string;
  /** Open string: the SDK's enum lags the documentation. */
  lifecycleStage: string;
  readonly sources: readonly ServiceRevision[];
  readonly target: ServiceRevision;
  /** The ECS deployment (DescribeServices `deployments[]`) whose tasks run the target revision. */
  readonly deployment: Deployment;
  /** Percent of production traffic on the target revision, and of test traffic. */
  productionWeight: number;
  testWeight: number;
  readonly hooks: HookRun[];
  rollback:
    | { readonly reason: string; readonly startedAt: number; readonly serviceRevisionArn: string }
    | undefined;
  /** Every status/stage/weight change, for tests, demos and the bench. */
  readonly history: { at: number; status: string; lifecycleStage: string; productionWeight: number }[];
  readonly timers: (() => void)[];
}

export interface Cluster {
  readonly name: string;
  readonly arn: string;
  readonly services: Map<string, Service>;
  readonly tasks: Map<string, Task>;
}

export const TASK_DEFINITION_KEYS = [
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

/** What ECS holds: clusters with their services and tasks, task-definition revisions, tags. */
export class EcsModel {
  readonly #clusters = new Map<string, Cluster>();
  readonly #taskDefinitions = new Map<string, TaskDefinitionRecord[]>();
  readonly #tags = new Map<string, Tag[]>();
  readonly clock: SimClock;
  readonly region: string;
  readonly account: string;
  /** How long a stopped task keeps its old desired status in ListTasks (see `EcsState.setListTasksLag`). */
  listTasksLagMs = 0;
  /** Fields newer than the SDK's model that task definitions come back with (see `EcsState.setUnmodeledFields`). */
  unmodeledFields: UnmodeledFields = {};

  #revisionSeq = 0;

  constructor(clock: SimClock, region: string, account: string) {
    this.clock = clock;
    this.region = region;
    this.account = account;
  }

  clusterOrCreate(name: string): Cluster {
    const existing = this.#clusters.get(name);
    if (existing !== undefined) return existing;
    const cluster: Cluster = {
      name,
      arn: `arn:aws:ecs:${this.region}:${this.account}:cluster/${name}`,
      services: new Map(),
      tasks: new Map(),
    };
    this.#clusters.set(name, cluster);
    return cluster;
  }

  /** `…:service-revision/<cluster>/<service>/<number>`, the shape of the developer guide's samples. */
  newRevisionArn(cluster: Cluster, service: Service): string {
    this.#revisionSeq += 1;
    // Random digits, then a sequence number so two revisions never share an ARN.
    const id = `${randomInt(1_000_000, 10_000_000)}${this.#revisionSeq}`;
    return `arn:aws:ecs:${this.region}:${this.account}:service-revision/${cluster.name}/${service.name}/${id}`;
  }

  cluster(ref: string | undefined): Cluster {
    const name = (ref ?? 'default').replace(/^arn:aws:ecs:[^:]+:\d+:cluster\//, '');
    const cluster = this.#clusters.get(name);
    if (cluster === undefined) throw new AwsError('ClusterNotFoundException', 'Cluster not found.');
    return cluster;
  }

  service(cluster: Cluster, ref: string): Service {
    const service = cluster.services.get(serviceName(ref));
    if (service === undefined) throw new AwsError('ServiceNotFoundException', 'Service not found.');
    return service;
  }

  taskDefinitionByArn(arn: string): TaskDefinitionRecord {
    const found = this.findTaskDefinition(arn);
    if (found === undefined) throw new Error(`emulator bug: unknown task definition ${arn}`);
    return found;
  }

  findTaskDefinition(ref: string): TaskDefinitionRecord | undefined {
    const short = ref.replace(/^arn:aws:ecs:[^:]+:\d+:task-definition\//, '');
    const [family, revision] = short.split(':');
    const revisions = this.#taskDefinitions.get(family ?? '');
    if (revisions === undefined) return undefined;
    return revision === undefined ? revisions.at(-1) : revisions.find((r) => r.revision === Number(revision));
  }

  tagsOf(arn: string): Tag[] {
    return (this.#tags.get(arn) ?? []).map((t) => ({ ...t }));
  }

  addTags(arn: string, tags: readonly Tag[]): void {
    const current = this.#tags.get(arn) ?? [];
    for (const tag of tags) {
      const at = current.findIndex((t) => t.key === tag.key);
      if (at >= 0) current[at] = { ...tag };
      else current.push({ ...tag });
    }
    this.#tags.set(arn, current);
  }

  register(raw: JsonObject): TaskDefinitionRecord {
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
      arn: `arn:aws:ecs:${this.region}:${this.account}:task-definition/${family}:${revision}`,
      family,
      revision,
      body: structuredClone(raw),
      registeredAt: this.clock.now(),
    };
    revisions.push(record);
    this.#taskDefinitions.set(family, revisions);
    if (Array.isArray(tags)) this.addTags(record.arn, tags as Tag[]);
    return record;
  }

  resourceExists(arn: string): boolean {
    if (arn.includes(':task-definition/')) return this.findTaskDefinition(arn) !== undefined;
    for (const cluster of this.#clusters.values()) {
      if (cluster.arn === arn || cluster.tasks.has(arn)) return true;
      for (const service of cluster.services.values()) if (service.arn === arn) return true;
    }
    return false;
  }

  /** The desired status ListTasks files a task under now: a stop shows only after the lag. */
  listedStatus(task: Task): Task['desiredStatus'] {
    const stopping = task.stoppingAt;
    const lagging = stopping !== undefined && this.clock.now() - stopping < this.listTasksLagMs;
    return lagging ? 'RUNNING' : task.desiredStatus;
  }

  /** ECS keeps a stopped task visible for about an hour. */
  pruneStopped(cluster: Cluster): void {
    const cutoff = this.clock.now() - MAX_STOPPED_TASK_AGE_MS;
    for (const [arn, task] of cluster.tasks) {
      if (task.stoppedAt !== undefined && task.stoppedAt < cutoff) cluster.tasks.delete(arn);
    }
  }
}

/** A service's name from its name or ARN (old and new ARN formats). */
export function serviceName(ref: string): string {
  return ref.replace(/^arn:aws:ecs:[^:]+:\d+:service\/(?:[^/]+\/)?/, '');
}

export function isTag(value: Json): boolean {
  return (
    isObject(value) &&
    typeof value.key === 'string' &&
    (value.value === undefined || typeof value.value === 'string')
  );
}

export function taskId(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
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
