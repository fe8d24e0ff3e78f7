import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { SimClock } from '../clock.ts';
import type { EcrState } from '../ecr.ts';
import type { EventHub } from '../events.ts';
import type { JsonObject } from '../protocol.ts';
import {
  type Cluster,
  type CreateServiceInput,
  type Deployment,
  type EcsModel,
  parseImage,
  type ResolvedScenario,
  resolveScenario,
  type Scenario,
  type Service,
  type Task,
  type TaskDefinitionRecord,
  taskId,
} from './model.ts';
import { iso, renderTask } from './render.ts';
import { parseStrategyConfig, ROLLING } from './strategy-config.ts';

/** ECS's failure threshold: half the desired count, at least 3 and at most 200. */
export function circuitBreakerThreshold(desiredCount: number): number {
  return Math.min(200, Math.max(3, Math.ceil(desiredCount * 0.5)));
}

/** Deployments and their tasks played out on the simulated clock, per the image's scenario. */
export class RolloutSimulator {
  readonly #scenarios = new Map<string, ResolvedScenario>();
  #defaultScenario: ResolvedScenario = resolveScenario('healthy');
  readonly #model: EcsModel;
  readonly #clock: SimClock;
  readonly #hub: EventHub;
  readonly #ecr: EcrState;
  /** Told when a task of `deployment` reaches RUNNING (the strategy simulator waits on it to finish SCALE_UP). */
  onTaskRunning: ((deployment: Deployment) => void) | undefined;

  constructor(model: EcsModel, hub: EventHub, ecr: EcrState) {
    this.#model = model;
    this.#clock = model.clock;
    this.#hub = hub;
    this.#ecr = ecr;
  }

  /** See {@link EcsState.createService}. */
  seedService(input: CreateServiceInput): {
    service: Service;
    cluster: Cluster;
    taskDefinitionArn: string;
    deploymentId: string;
  } {
    const cluster = this.#model.clusterOrCreate(input.cluster);
    if (cluster.services.has(input.service))
      throw new Error(`createService: ${input.service} already exists`);
    const td = this.#model.register(input.taskDefinition);
    const now = this.#clock.now();
    const service: Service = {
      name: input.service,
      arn: `arn:aws:ecs:${this.#model.region}:${this.#model.account}:service/${cluster.name}/${input.service}`,
      clusterArn: cluster.arn,
      desiredCount: input.desiredCount,
      taskDefinitionArn: td.arn,
      circuitBreaker: {
        enable: input.circuitBreaker?.enable ?? false,
        rollback: input.circuitBreaker?.rollback ?? false,
      },
      launchType: input.launchType ?? 'FARGATE',
      deploymentController: input.deploymentController ?? 'ECS',
      createdAt: now,
      deployments: [],
      events: [],
      deploymentConfiguration:
        input.deploymentConfiguration === undefined
          ? ROLLING
          : parseStrategyConfig(input.deploymentConfiguration, input.deploymentController ?? 'ECS'),
      serviceDeployments: [],
      productionRevision: undefined,
    };
    if (input.firstDeployment === 'inProgress') {
      // A service whose first deployment is still running: no tasks, no revision to roll back to.
      cluster.services.set(service.name, service);
      if (input.tags !== undefined) this.#model.addTags(service.arn, input.tags);
      return { service, cluster, taskDefinitionArn: td.arn, deploymentId: '' };
    }
    const deployment = this.newDeployment(service, td.arn, 'ECS deployment seeded by the Gantry sandbox.');
    deployment.rolloutState = 'COMPLETED';
    deployment.rolloutStateReason = `ECS deployment ${deployment.id} completed.`;
    service.deployments = [deployment];
    service.productionRevision = {
      arn: this.#model.newRevisionArn(cluster, service),
      taskDefinitionArn: td.arn,
      deploymentId: deployment.id,
    };
    cluster.services.set(service.name, service);
    if (input.tags !== undefined) this.#model.addTags(service.arn, input.tags);
    for (let i = 0; i < input.desiredCount; i++) {
      const task = this.#newTask(cluster, service, deployment);
      task.lastStatus = 'RUNNING';
      task.startedAt = now;
    }
    return { service, cluster, taskDefinitionArn: td.arn, deploymentId: deployment.id };
  }

  setScenario(image: string, scenario: Scenario): void {
    this.#scenarios.set(scenarioKey(image), resolveScenario(scenario));
  }

  setDefaultScenario(scenario: Scenario): void {
    this.#defaultScenario = resolveScenario(scenario);
  }

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

  newDeployment(service: Service, taskDefinitionArn: string, reason: string): Deployment {
    const now = this.#clock.now();
    const td = this.#model.taskDefinitionByArn(taskDefinitionArn);
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

  /** UpdateService's effect: a new PRIMARY deployment whose tasks start now. */
  startDeployment(
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
    const deployment = this.newDeployment(service, taskDefinitionArn, '');
    deployment.rolloutStateReason = reason ?? `ECS deployment ${deployment.id} in progress.`;
    service.deployments.unshift(deployment);
    service.taskDefinitionArn = taskDefinitionArn;
    this.emitDeployment(service, deployment, 'INFO', 'SERVICE_DEPLOYMENT_IN_PROGRESS');
    const started: string[] = [];
    for (let i = 0; i < deployment.desiredCount; i++)
      started.push(this.launch(cluster, service, deployment).arn);
    this.serviceEvent(
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

  launch(cluster: Cluster, service: Service, deployment: Deployment): Task {
    this.#model.pruneStopped(cluster);
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
      this.onTaskRunning?.(deployment);
    });
    if (scenario.kind === 'crashLoop' || deployment.crashing === true) {
      this.#clock.schedule(scenario.startMs + scenario.crashAfterMs, () =>
        this.crash(cluster, service, deployment, task),
      );
    }
    return task;
  }

  crash(cluster: Cluster, service: Service, deployment: Deployment, task: Task): void {
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
    // Blue/green, linear and canary deployments are judged by their own stages, not by the rolling
    // update's breaker (DeploymentCircuitBreaker: "can only be used for services using the rolling
    // update (ECS) deployment type").
    if (
      deployment.serviceDeploymentArn === undefined &&
      service.circuitBreaker.enable &&
      deployment.failedTasks >= circuitBreakerThreshold(deployment.desiredCount)
    ) {
      this.#fail(cluster, service, deployment);
      return;
    }
    deployment.timers.push(
      this.#clock.schedule(deployment.scenario.restartDelayMs, () => {
        if (deployment.status === 'PRIMARY' && deployment.rolloutState === 'IN_PROGRESS') {
          this.launch(cluster, service, deployment);
        }
      }),
    );
  }

  #fail(cluster: Cluster, service: Service, deployment: Deployment): void {
    deployment.rolloutState = 'FAILED';
    deployment.rolloutStateReason = 'ECS deployment circuit breaker: task failed to start.';
    deployment.updatedAt = this.#clock.now();
    for (const cancel of deployment.timers.splice(0)) cancel();
    this.emitDeployment(service, deployment, 'ERROR', 'SERVICE_DEPLOYMENT_FAILED');
    this.serviceEvent(
      service,
      `(service ${service.name}) (deployment ${deployment.id}) deployment failed: tasks failed to start.`,
    );
    if (!service.circuitBreaker.rollback) return;
    // ECS rolls back only to a deployment that completed.
    const target = service.deployments.find((d) => d !== deployment && d.rolloutState === 'COMPLETED');
    if (target === undefined) return;
    const rollBack = () =>
      this.startDeployment(
        cluster,
        service,
        target.taskDefinitionArn,
        `ECS deployment circuit breaker: rolling back to deploymentId ${target.id}.`,
      );
    const delay = deployment.scenario.breakerRollbackDelayMs;
    if (delay === 0) {
      rollBack();
      return;
    }
    // Until then the failed deployment stays PRIMARY; a newer UpdateService cancels this rollback.
    deployment.timers.push(this.#clock.schedule(delay, rollBack));
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
      this.scaleDown(cluster, old, deployment);
    }
    service.deployments = [deployment];
    this.emitDeployment(service, deployment, 'INFO', 'SERVICE_DEPLOYMENT_COMPLETED');
    this.serviceEvent(
      service,
      `(service ${service.name}) (deployment ${deployment.id}) deployment completed.`,
    );
    this.serviceEvent(service, `(service ${service.name}) has reached a steady state.`);
  }

  /** From now on `deployment`'s tasks crash-loop: the running ones exit `crashAfterMs` from now. */
  startCrashing(cluster: Cluster, service: Service, deployment: Deployment): void {
    if (deployment.crashing === true) return;
    deployment.crashing = true;
    for (const task of cluster.tasks.values()) {
      if (task.deploymentId !== deployment.id || task.lastStatus === 'STOPPED') continue;
      deployment.timers.push(
        this.#clock.schedule(deployment.scenario.crashAfterMs, () =>
          this.crash(cluster, service, deployment, task),
        ),
      );
    }
  }

  /** The scheduler stops `old`'s tasks on behalf of `by` (exit 0, `ServiceSchedulerInitiated`). */
  scaleDown(cluster: Cluster, old: Deployment, by: Deployment): void {
    const now = this.#clock.now();
    for (const task of cluster.tasks.values()) {
      if (task.deploymentId !== old.id || task.lastStatus === 'STOPPED') continue;
      task.desiredStatus = 'STOPPED';
      task.lastStatus = 'STOPPED';
      task.stoppingAt = now;
      task.stoppedAt = now;
      task.stopCode = 'ServiceSchedulerInitiated';
      task.stoppedReason = `Scaling activity initiated by (deployment ${by.id})`;
      for (const c of task.containers) {
        c.lastStatus = 'STOPPED';
        c.exitCode = 0;
      }
      this.#touch(task);
      this.#emitTask(task);
    }
  }

  #newTask(cluster: Cluster, service: Service, deployment: Deployment): Task {
    const id = randomBytes(16).toString('hex');
    const { region, account } = this.#model;
    const arn = `arn:aws:ecs:${region}:${account}:task/${cluster.name}/${id}`;
    const td = this.#model.taskDefinitionByArn(deployment.taskDefinitionArn);
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
        containerArn: `arn:aws:ecs:${region}:${account}:container/${cluster.name}/${id}/${randomUUID()}`,
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

  serviceEvent(service: Service, message: string): void {
    service.events.unshift({ id: randomUUID(), createdAt: this.#clock.now(), message });
    service.events.length = Math.min(service.events.length, 100);
  }

  emitDeployment(
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
      detail: renderTask(this.#model, task, 'event'),
    });
  }
}

function scenarioKey(image: string): string {
  if (image.startsWith('sha256:')) return image;
  const ref = parseImage(image);
  return ref.digest ?? `${ref.repository}:${ref.tag ?? 'latest'}`;
}
