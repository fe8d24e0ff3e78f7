/**
 * The swarm the Docker Engine API SIMULATOR pretends to manage: one manager node, replicated
 * services, their tasks, the rolling updater and the restart supervisor, all on the sandbox's
 * {@link SimClock}. Nothing here reads the wall clock.
 *
 * The updater follows swarmkit's (`manager/orchestrator/update/updater.go`, the code Docker 20.10
 * runs): it updates the *dirty* slots (a task whose spec differs from the service's), `Parallelism`
 * at a time, waits for each new task to reach `running` (or end), waits `Delay`, then watches for
 * `Monitor` before declaring the update complete. A task it created that ends before it ran, or
 * within `Monitor` of running, counts as a failure; once failures / dirty slots exceed
 * `MaxFailureRatio`, `FailureAction` applies: `pause` (`paused`, or `rollback_paused` during a
 * rollback), `rollback` (the spec goes back to `PreviousSpec`, state `rollback_started`, and a new
 * run of the updater under `RollbackConfig` follows), `continue`. The messages are swarmkit's.
 *
 * The restart supervisor follows `manager/orchestrator/restart/restart.go`: a task that ends while
 * it should run is replaced in the same slot by a task of the service's *current* spec, started
 * after `RestartPolicy.Delay` (default 5 s), unless `Condition` (`any` | `on-failure` | `none`) or
 * `MaxAttempts` within `Window` says not to. Tasks the restart supervisor creates are not the
 * updater's, so their failures do not count towards the failure action (as in swarmkit).
 *
 * When a task ends, the updater hears of it before the restart supervisor: on the real engine this
 * is a race between two goroutines. This order is the one the lab showed for a single-replica
 * crash (the replacement runs the rolled-back image and the rollback completes at once); see the
 * README for what that means for the differential test.
 */
import { randomBytes } from 'node:crypto';
import type { SimClock } from '../emulator/clock.ts';
import {
  badRequest,
  digestOf,
  EngineError,
  ended,
  type ImageScenario,
  imageOf,
  isObject,
  type JsonObject,
  NotSimulated,
  normaliseSpec,
  type ResolvedImageScenario,
  reachedRunning,
  registryOf,
  resolveImageScenario,
  restartPolicy,
  stateRank,
  stopGraceMs,
  type TaskState,
  taskSpecOf,
  updatePolicy,
} from './model.ts';

/** Registry credentials as `X-Registry-Auth` carries them (Engine API v1.41 "Authentication"). */
export interface RegistryAuth {
  readonly username?: string;
  readonly password?: string;
  readonly serveraddress?: string;
  readonly identitytoken?: string;
}

type UpdateState =
  | 'updating'
  | 'paused'
  | 'completed'
  | 'rollback_started'
  | 'rollback_paused'
  | 'rollback_completed';

interface UpdateStatus {
  state: UpdateState;
  message: string;
  readonly startedAt: number;
  completedAt?: number;
}

interface ServiceRecord {
  readonly id: string;
  version: number;
  readonly createdAt: number;
  updatedAt: number;
  spec: JsonObject;
  previousSpec: JsonObject | undefined;
  /** Registry auth stored with the spec (swarmkit keeps it in `ContainerSpec.PullOptions`, never shown). */
  auth: RegistryAuth | undefined;
  previousAuth: RegistryAuth | undefined;
  updateStatus: UpdateStatus | undefined;
  updater: Updater | undefined;
}

interface TaskRecord {
  readonly id: string;
  version: number;
  readonly createdAt: number;
  updatedAt: number;
  readonly spec: JsonObject;
  readonly auth: RegistryAuth | undefined;
  readonly serviceId: string;
  readonly slot: number;
  state: TaskState;
  stateAt: number;
  message: string;
  err: string | undefined;
  container: { id: string; pid: number; exitCode: number } | undefined;
  desired: 'ready' | 'running' | 'shutdown';
  /** Pending lifecycle timers, cancelled when the task is stopped. */
  readonly timers: Set<() => void>;
}

/** A running update of one service: cancelled when the spec changes again. */
interface Updater {
  cancelled: boolean;
  readonly cancel: () => void;
  readonly onTaskEnded: (task: TaskRecord) => void;
}

/** Swarmkit keeps 5 tasks per slot by default (`TaskHistoryRetentionLimit`). */
const taskHistoryPerSlot = 5;

function swarmId(): string {
  // Swarm object ids are 25 characters of [0-9a-z] (e.g. `514gyh46ie79ajvt7pkvl7i5a`).
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return [...randomBytes(25)].map((byte) => alphabet[byte % 36]).join('');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function sameSpec(a: JsonObject, b: JsonObject): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class SwarmSimulator {
  readonly #clock: SimClock;
  readonly #services = new Map<string, ServiceRecord>();
  readonly #tasks = new Map<string, TaskRecord>();
  readonly #scenarios = new Map<string, ResolvedImageScenario>();
  #defaultScenario = resolveImageScenario('healthy');
  readonly #registries = new Map<string, RegistryAuth>();
  readonly #restartHistory = new Map<string, number[]>();
  readonly #watchers = new Set<() => void>();
  /** A global store index, as raft's: every write of a service or task takes the next one. */
  #index = 10;
  readonly nodeId = swarmId();
  /** What the daemon would log that the API does not show (pull errors). */
  readonly daemonLog: string[] = [];

  constructor(clock: SimClock) {
    this.#clock = clock;
  }

  /** How tasks of `image` behave: by full reference, or by `sha256:…` digest for any reference to it. */
  setScenario(image: string, scenario: ImageScenario): void {
    this.#scenarios.set(image, resolveImageScenario(scenario));
  }

  /** The scenario of images without one (default `healthy`). */
  setDefaultScenario(scenario: ImageScenario): void {
    this.#defaultScenario = resolveImageScenario(scenario);
  }

  /** Images in `registry` (`host[:port]`) pull only with these credentials, as a registry with htpasswd auth. */
  requireRegistryAuth(registry: string, credentials: { username: string; password: string }): void {
    this.#registries.set(registry, credentials);
  }

  #scenarioFor(image: string): ResolvedImageScenario {
    const digest = digestOf(image);
    return (
      this.#scenarios.get(image) ??
      (digest === undefined ? undefined : this.#scenarios.get(digest)) ??
      this.#defaultScenario
    );
  }

  #nextIndex(): number {
    this.#index += 1;
    return this.#index;
  }

  #touchService(service: ServiceRecord): void {
    service.version = this.#nextIndex();
    service.updatedAt = this.#clock.now();
  }

  // ---- API operations -------------------------------------------------------------------------

  createService(rawSpec: unknown, auth: RegistryAuth | undefined): { ID: string } {
    const spec = normaliseSpec(rawSpec);
    const name = String(spec.Name);
    if ([...this.#services.values()].some((s) => s.spec.Name === name)) {
      // swarmkit controlapi CreateService on store.ErrNameConflict; the daemon maps AlreadyExists to 409.
      throw new EngineError(
        409,
        `rpc error: code = AlreadyExists desc = name conflicts with an existing object: service ${name} already exists`,
      );
    }
    const now = this.#clock.now();
    const service: ServiceRecord = {
      id: swarmId(),
      version: this.#nextIndex(),
      createdAt: now,
      updatedAt: now,
      spec,
      previousSpec: undefined,
      auth,
      previousAuth: undefined,
      updateStatus: undefined,
      updater: undefined,
    };
    this.#services.set(service.id, service);
    this.#reconcile(service);
    return { ID: service.id };
  }

  updateService(
    ref: string,
    versionText: string | null,
    rawSpec: unknown,
    auth: RegistryAuth | undefined,
    options: { registryAuthFrom?: string | null; rollback?: string | null },
  ): { Warnings: null } {
    const service = this.#service(ref);
    if (options.rollback !== undefined && options.rollback !== null && options.rollback !== '') {
      throw new NotSimulated('POST /services/{id}/update?rollback=previous (a server-side rollback)');
    }
    const version = Number(versionText);
    if (versionText === null || versionText === '' || !Number.isInteger(version)) {
      throw badRequest(`invalid service version '${versionText ?? ''}'`);
    }
    const spec = normaliseSpec(rawSpec);
    if (version !== service.version) {
      // swarmkit's store.ErrSequenceConflict, passed through by the daemon as an unknown gRPC error.
      throw new EngineError(500, 'rpc error: code = Unknown desc = update out of sequence');
    }
    if (spec.Name !== service.spec.Name) throw new NotSimulated('renaming a service');
    const from = options.registryAuthFrom ?? 'spec';
    if (from !== 'spec' && from !== 'previous-spec') {
      throw badRequest(`invalid registryAuthFrom '${from}'`);
    }
    const keptAuth = from === 'previous-spec' ? service.previousAuth : service.auth;
    service.previousSpec = service.spec;
    service.previousAuth = service.auth;
    service.spec = spec;
    // Without a new X-Registry-Auth the daemon keeps the credentials already in the spec.
    service.auth = auth ?? keptAuth;
    service.updateStatus = undefined;
    this.#touchService(service);
    // The orchestrator reacts to the store change asynchronously: inspect right after the call
    // still shows no UpdateStatus (seen on the real engine).
    this.#clock.schedule(0, () => {
      if (this.#services.get(service.id) === service) this.#reconcile(service);
    });
    return { Warnings: null };
  }

  removeService(ref: string): void {
    const service = this.#service(ref);
    service.updater?.cancel();
    this.#services.delete(service.id);
    for (const task of [...this.#tasks.values()]) {
      if (task.serviceId !== service.id) continue;
      for (const cancel of task.timers) cancel();
      this.#tasks.delete(task.id);
    }
    this.#notify();
  }

  inspectService(ref: string): JsonObject {
    return this.#renderService(this.#service(ref));
  }

  /**
   * `GET /services`: filters `id`, `name` (prefixes, as the engine matches them) and `label`
   * (`key` or `key=value`); with `status`, each service's `ServiceStatus` (added in API 1.41).
   */
  listServices(filters: Record<string, string[]>, withStatus = false): JsonObject[] {
    for (const key of Object.keys(filters)) {
      if (!['id', 'name', 'label'].includes(key)) throw new NotSimulated(`the services filter '${key}'`);
    }
    const labelled = (s: ServiceRecord, filter: string): boolean => {
      const labels = isObject(s.spec.Labels) ? s.spec.Labels : {};
      const [key, value] = filter.split(/=(.*)/s);
      return key !== undefined && key in labels && (value === undefined || labels[key] === value);
    };
    return [...this.#services.values()]
      .filter(
        (s) =>
          (filters.id === undefined || filters.id.some((id) => s.id.startsWith(id))) &&
          (filters.name === undefined || filters.name.some((name) => String(s.spec.Name).startsWith(name))) &&
          (filters.label === undefined || filters.label.every((label) => labelled(s, label))),
      )
      .map((s) => ({ ...this.#renderService(s), ...(withStatus ? { ServiceStatus: this.#status(s) } : {}) }));
  }

  #status(service: ServiceRecord): JsonObject {
    const running = [...this.#tasks.values()].filter(
      (t) => t.serviceId === service.id && t.desired === 'running' && t.state === 'running',
    ).length;
    const replicas = Number(((service.spec.Mode as JsonObject).Replicated as JsonObject).Replicas);
    return { RunningTasks: running, DesiredTasks: replicas };
  }

  inspectTask(id: string): JsonObject {
    const task = this.#tasks.get(id) ?? [...this.#tasks.values()].find((t) => t.id.startsWith(id));
    if (task === undefined || id === '') throw new EngineError(404, `no such task: ${id}`);
    return this.#renderTask(task);
  }

  listTasks(filters: Record<string, string[]>): JsonObject[] {
    for (const key of Object.keys(filters)) {
      if (!['id', 'service', 'desired-state', 'node'].includes(key)) {
        throw new NotSimulated(`the tasks filter '${key}'`);
      }
    }
    const services = filters.service?.map((ref) => this.#findService(ref)?.id ?? `missing:${ref}`);
    for (const state of filters['desired-state'] ?? []) {
      if (!['running', 'shutdown', 'accepted'].includes(state)) {
        throw badRequest(`Invalid filter 'desired-state=${state}'`);
      }
    }
    return [...this.#tasks.values()]
      .filter(
        (t) =>
          (filters.id === undefined || filters.id.some((id) => t.id.startsWith(id))) &&
          (services === undefined || services.includes(t.serviceId)) &&
          (filters.node === undefined || filters.node.includes(this.nodeId)) &&
          (filters['desired-state'] === undefined ||
            filters['desired-state'].some((state) =>
              // The engine's `accepted` filter matches tasks it has not started yet.
              state === 'accepted' ? t.desired === 'ready' : t.desired === state,
            )),
      )
      .map((t) => this.#renderTask(t));
  }

  // ---- lookup and rendering --------------------------------------------------------------------

  #findService(ref: string): ServiceRecord | undefined {
    const exact = this.#services.get(ref) ?? [...this.#services.values()].find((s) => s.spec.Name === ref);
    if (exact !== undefined) return exact;
    const byPrefix = [...this.#services.values()].filter((s) => ref !== '' && s.id.startsWith(ref));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  #service(ref: string): ServiceRecord {
    const service = this.#findService(ref);
    if (service === undefined) throw new EngineError(404, `service ${ref} not found`);
    return service;
  }

  #renderService(s: ServiceRecord): JsonObject {
    const status = s.updateStatus;
    return {
      ID: s.id,
      Version: { Index: s.version },
      CreatedAt: iso(s.createdAt),
      UpdatedAt: iso(s.updatedAt),
      Spec: structuredClone(s.spec),
      ...(s.previousSpec === undefined ? {} : { PreviousSpec: structuredClone(s.previousSpec) }),
      Endpoint: { Spec: {} },
      ...(status === undefined
        ? {}
        : {
            UpdateStatus: {
              State: status.state,
              StartedAt: iso(status.startedAt),
              ...(status.completedAt === undefined ? {} : { CompletedAt: iso(status.completedAt) }),
              Message: status.message,
            },
          }),
    };
  }

  #renderTask(t: TaskRecord): JsonObject {
    return {
      ID: t.id,
      Version: { Index: t.version },
      CreatedAt: iso(t.createdAt),
      UpdatedAt: iso(t.updatedAt),
      Labels: {},
      Spec: structuredClone(t.spec),
      ServiceID: t.serviceId,
      Slot: t.slot,
      NodeID: this.nodeId,
      Status: {
        Timestamp: iso(t.stateAt),
        State: t.state,
        Message: t.message,
        ...(t.err === undefined ? {} : { Err: t.err }),
        ...(t.container === undefined
          ? {}
          : {
              ContainerStatus: {
                ContainerID: t.container.id,
                PID: t.state === 'running' || t.state === 'starting' ? t.container.pid : 0,
                ExitCode: t.container.exitCode,
              },
            }),
        PortStatus: {},
      },
      DesiredState: t.desired,
    };
  }

  // ---- orchestration --------------------------------------------------------------------------

  /** Tasks that occupy a slot: those not told to shut down (swarmkit's "runnable" slots). */
  #slots(service: ServiceRecord): TaskRecord[][] {
    const bySlot = new Map<number, TaskRecord[]>();
    for (const task of this.#tasks.values()) {
      if (task.serviceId !== service.id || task.desired === 'shutdown') continue;
      bySlot.set(task.slot, [...(bySlot.get(task.slot) ?? []), task]);
    }
    return [...bySlot.entries()].sort(([a], [b]) => a - b).map(([, tasks]) => tasks);
  }

  #dirty(service: ServiceRecord, task: TaskRecord): boolean {
    return !sameSpec(task.spec, taskSpecOf(service.spec));
  }

  /** Replicas up or down, then the updater for whatever is dirty (the replicated orchestrator). */
  #reconcile(service: ServiceRecord): void {
    const replicas = Number(((service.spec.Mode as JsonObject).Replicated as JsonObject).Replicas);
    const occupied = new Set(this.#slots(service).map((tasks) => tasks[0]?.slot));
    for (let slot = 1; slot <= replicas; slot += 1) {
      if (!occupied.has(slot)) this.#startTask(this.#createTask(service, slot, 'running'));
    }
    for (const tasks of this.#slots(service)) {
      for (const task of tasks) if (task.slot > replicas) this.#shutdown(task);
    }
    this.#runUpdater(service);
  }

  #createTask(service: ServiceRecord, slot: number, desired: 'ready' | 'running'): TaskRecord {
    const now = this.#clock.now();
    const task: TaskRecord = {
      id: swarmId(),
      version: this.#nextIndex(),
      createdAt: now,
      updatedAt: now,
      spec: taskSpecOf(service.spec),
      auth: service.auth,
      serviceId: service.id,
      slot,
      state: 'assigned',
      stateAt: now,
      message: 'scheduler assigned task to node',
      err: undefined,
      container: undefined,
      desired,
      timers: new Set(),
    };
    this.#tasks.set(task.id, task);
    this.#pruneHistory(service.id, slot);
    return task;
  }

  #pruneHistory(serviceId: string, slot: number): void {
    const inSlot = [...this.#tasks.values()]
      .filter((t) => t.serviceId === serviceId && t.slot === slot)
      .sort((a, b) => a.createdAt - b.createdAt);
    let surplus = inSlot.length - taskHistoryPerSlot;
    for (const task of inSlot) {
      if (surplus <= 0) break;
      if (task.desired === 'shutdown' && ended(task.state)) {
        this.#tasks.delete(task.id);
        surplus -= 1;
      }
    }
  }

  #after(task: TaskRecord, delayMs: number, run: () => void): void {
    const cancel = this.#clock.schedule(delayMs, () => {
      task.timers.delete(cancel);
      if (this.#tasks.get(task.id) === task) run();
    });
    task.timers.add(cancel);
  }

  #setState(
    task: TaskRecord,
    state: TaskState,
    message: string,
    extra: { err?: string; exitCode?: number } = {},
  ): void {
    const wasEnded = ended(task.state);
    const now = this.#clock.now();
    task.state = state;
    task.stateAt = now;
    task.updatedAt = now;
    task.message = message;
    if (extra.err !== undefined) task.err = extra.err;
    if (extra.exitCode !== undefined && task.container !== undefined)
      task.container.exitCode = extra.exitCode;
    task.version = this.#nextIndex();
    if (!wasEnded && ended(state)) {
      for (const cancel of task.timers) cancel();
      task.timers.clear();
      this.#taskEnded(task);
    }
    this.#notify();
  }

  #notify(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }

  /** Calls `run` once `condition` holds, checking after every task change. Returns a cancel function. */
  #when(condition: () => boolean, run: () => void): () => void {
    if (condition()) {
      run();
      return () => {};
    }
    const watcher = (): void => {
      if (!condition()) return;
      this.#watchers.delete(watcher);
      run();
    };
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /** The container's life, from the node accepting the task to its scenario's end. */
  #startTask(task: TaskRecord): void {
    task.desired = 'running';
    task.version = this.#nextIndex();
    const image = imageOf(task.spec);
    const scenario = this.#scenarioFor(image);
    this.#setState(task, 'accepted', 'accepted');
    this.#after(task, 100, () => {
      this.#setState(task, 'preparing', 'preparing');
      this.#after(task, 200, () => {
        const pullError = this.#pullError(image, task.auth, scenario);
        if (pullError !== undefined) {
          // The engine logs the failed pull and tries to create the container anyway, so the task
          // shows the create error (swarm executor `controller.Prepare`; recorded on 20.10).
          this.daemonLog.push(
            `level=error msg="pulling image failed" error="${pullError}" task.id=${task.id}`,
          );
          task.container = { id: '', pid: 0, exitCode: 0 };
          this.#setState(task, 'rejected', 'preparing', { err: `No such image: ${image}` });
          return;
        }
        task.container = {
          id: randomBytes(32).toString('hex'),
          pid: 1000 + (randomBytes(2).readUInt16BE() % 30000),
          exitCode: 0,
        };
        this.#setState(task, 'starting', 'starting');
        if (scenario.kind === 'unhealthy') {
          this.#after(task, scenario.startMs + scenario.unhealthyMs, () =>
            this.#setState(task, 'failed', 'starting', {
              err: 'task: non-zero exit (137): dockerexec: unhealthy container',
              exitCode: 137,
            }),
          );
          return;
        }
        this.#after(task, scenario.startMs, () => {
          this.#setState(task, 'running', 'started');
          if (scenario.kind === 'crashLoop') {
            this.#after(task, scenario.runMs, () =>
              this.#setState(task, 'failed', 'started', {
                err: `task: non-zero exit (${scenario.exitCode})`,
                exitCode: scenario.exitCode,
              }),
            );
          }
        });
      });
    });
  }

  #pullError(
    image: string,
    auth: RegistryAuth | undefined,
    scenario: ResolvedImageScenario,
  ): string | undefined {
    const registry = registryOf(image);
    const required = this.#registries.get(registry);
    const authorised =
      required === undefined ||
      (auth !== undefined &&
        (auth.serveraddress === undefined || auth.serveraddress.replace(/^https?:\/\//, '') === registry) &&
        auth.username === required.username &&
        auth.password === required.password);
    const path = image.slice(registry === 'docker.io' ? 0 : registry.length + 1).replace(/[@:].*$/, '');
    const reference = digestOf(image) ?? image.replace(/^.*:/, '');
    if (!authorised) {
      // distribution's answer to a pull without (valid) credentials, as the daemon logs it.
      return `Head "http://${registry}/v2/${path}/manifests/${reference}": no basic auth credentials`;
    }
    if (scenario.kind === 'unpullable') {
      return scenario.pullError ?? `manifest for ${image} not found: manifest unknown: manifest unknown`;
    }
    return undefined;
  }

  /** Tells a task to stop; it reaches `shutdown` once its container is gone. */
  #shutdown(task: TaskRecord): void {
    if (task.desired === 'shutdown' && ended(task.state)) return;
    task.desired = 'shutdown';
    task.version = this.#nextIndex();
    if (ended(task.state)) {
      this.#notify();
      return;
    }
    for (const cancel of task.timers) cancel();
    task.timers.clear();
    if (stateRank(task.state) < stateRank('starting')) {
      this.#setState(task, 'shutdown', 'shutdown');
      return;
    }
    const scenario = this.#scenarioFor(imageOf(task.spec));
    const sigterm = scenario.kind === 'healthy' && scenario.stopsOnSigterm;
    // SIGTERM, then SIGKILL after StopGracePeriod: a process ignoring SIGTERM exits 137.
    this.#after(task, sigterm ? 100 : stopGraceMs(task.spec), () =>
      this.#setState(task, 'shutdown', 'shutdown', { exitCode: sigterm ? 0 : 137 }),
    );
    this.#notify();
  }

  /**
   * Starts `task` after `delayMs` and, when `waitFor` is given, once that task has stopped
   * (swarmkit restart supervisor `DelayStart`).
   */
  #delayStart(task: TaskRecord, waitFor: TaskRecord | undefined, delayMs: number): () => void {
    let cancelWait = (): void => {};
    const cancelDelay = this.#clock.schedule(delayMs, () => {
      cancelWait = this.#when(
        () => waitFor === undefined || ended(waitFor.state) || !this.#tasks.has(waitFor.id),
        () => {
          if (this.#tasks.get(task.id) === task && task.desired === 'ready') this.#startTask(task);
        },
      );
    });
    return () => {
      cancelDelay();
      cancelWait();
    };
  }

  #taskEnded(task: TaskRecord): void {
    const service = this.#services.get(task.serviceId);
    if (service === undefined) return;
    // The updater first (see the file comment), then the restart supervisor.
    service.updater?.onTaskEnded(task);
    if (task.desired === 'shutdown') return;
    task.desired = 'shutdown';
    const replicas = Number(((service.spec.Mode as JsonObject).Replicated as JsonObject).Replicas);
    if (task.slot > replicas) return;
    const policy = restartPolicy(task.spec);
    if (policy.condition === 'none') return;
    if (policy.condition === 'on-failure' && task.state === 'complete') return;
    const key = `${service.id}/${task.slot}`;
    const now = this.#clock.now();
    const history = (this.#restartHistory.get(key) ?? []).filter(
      (at) => policy.windowMs === 0 || now - at <= policy.windowMs,
    );
    if (policy.maxAttempts > 0 && history.length >= policy.maxAttempts) return;
    this.#restartHistory.set(key, [...history, now]);
    const replacement = this.#createTask(service, task.slot, 'ready');
    this.#delayStart(replacement, undefined, policy.delayMs);
  }

  #runUpdater(service: ServiceRecord): void {
    service.updater?.cancel();
    service.updater = undefined;
    const status = service.updateStatus;
    if (status?.state === 'paused' || status?.state === 'rollback_paused') return;
    const dirtySlots = this.#slots(service).filter(
      (slot) => slot.length > 1 || (slot[0] !== undefined && this.#dirty(service, slot[0])),
    );
    if (dirtySlots.length === 0) {
      if (status?.state === 'updating' || status?.state === 'rollback_started') this.#completeUpdate(service);
      return;
    }
    if (status === undefined) {
      service.updateStatus = {
        state: 'updating',
        message: 'update in progress',
        startedAt: this.#clock.now(),
      };
      this.#touchService(service);
    }
    const rollingBack = service.updateStatus?.state === 'rollback_started';
    const policy = updatePolicy(service.spec, rollingBack ? 'RollbackConfig' : 'UpdateConfig');
    const parallelism = policy.parallelism === 0 ? dirtySlots.length : policy.parallelism;
    const queue = [...dirtySlots];
    const updated = new Map<string, number>();
    const failed = new Set<string>();
    const cancels = new Set<() => void>();
    let stopped = false;
    let busyWorkers = parallelism;

    const updater: Updater = {
      cancelled: false,
      cancel: () => {
        updater.cancelled = true;
        for (const cancel of cancels) cancel();
      },
      onTaskEnded: (task) => {
        if (updater.cancelled || stopped || policy.failureAction === 'continue') return;
        const startedAt = updated.get(task.id);
        if (startedAt === undefined || failed.has(task.id)) return;
        if (startedAt !== 0 && this.#clock.now() - startedAt > policy.monitorMs) return;
        failed.add(task.id);
        if (failed.size / dirtySlots.length <= policy.maxFailureRatio) return;
        stopped = true;
        if (policy.failureAction === 'rollback' && !rollingBack) {
          this.#rollback(
            service,
            `update rolled back due to failure or early termination of task ${task.id}`,
          );
        } else {
          const verb = policy.failureAction === 'rollback' ? 'rollback' : 'update';
          this.#pause(service, `${verb} paused due to failure or early termination of task ${task.id}`);
        }
      },
    };
    service.updater = updater;

    const track = (cancel: () => void): void => {
      cancels.add(cancel);
    };
    const worker = (): void => {
      if (updater.cancelled) return;
      const slot = stopped ? undefined : queue.shift();
      if (slot === undefined) {
        busyWorkers -= 1;
        if (busyWorkers === 0 && !stopped) {
          // Keep watching for failures for one more monitoring period, then complete.
          track(
            this.#clock.schedule(policy.monitorMs, () => {
              if (!updater.cancelled && !stopped) this.#completeUpdate(service);
            }),
          );
        }
        return;
      }
      this.#updateSlot(service, slot, policy.order, updated, track, () => {
        if (updater.cancelled) return;
        if (policy.delayMs > 0) track(this.#clock.schedule(policy.delayMs, worker));
        else worker();
      });
    };
    for (let i = 0; i < parallelism; i += 1) worker();
  }

  /** One slot to the service's spec (swarmkit `worker` / `updateTask` / `useExistingTask`). */
  #updateSlot(
    service: ServiceRecord,
    slot: TaskRecord[],
    order: 'stop-first' | 'start-first',
    updated: Map<string, number>,
    track: (cancel: () => void) => void,
    done: () => void,
  ): void {
    const clean =
      slot.find((t) => !this.#dirty(service, t) && t.desired === 'running') ??
      slot.find((t) => !this.#dirty(service, t));
    if (clean !== undefined) {
      const others = slot.filter((t) => t !== clean);
      for (const task of others) this.#shutdown(task);
      if (clean.desired === 'ready') track(this.#delayStart(clean, others[0], 0));
      done();
      return;
    }
    const first = slot[0] as TaskRecord;
    const task = this.#createTask(service, first.slot, 'ready');
    updated.set(task.id, 0);
    if (order === 'start-first') {
      track(this.#delayStart(task, undefined, 0));
    } else {
      for (const old of slot) this.#shutdown(old);
      track(this.#delayStart(task, first, 0));
    }
    track(
      this.#when(
        () => reachedRunning(task.state),
        () => {
          updated.set(task.id, this.#clock.now());
          if (order === 'start-first' && task.state === 'running')
            for (const old of slot) this.#shutdown(old);
          done();
        },
      ),
    );
  }

  #pause(service: ServiceRecord, message: string): void {
    const status = service.updateStatus;
    if (status === undefined) return;
    status.state = status.state === 'rollback_started' ? 'rollback_paused' : 'paused';
    status.message = message;
    this.#touchService(service);
  }

  #rollback(service: ServiceRecord, message: string): void {
    const status = service.updateStatus;
    if (status === undefined || service.previousSpec === undefined) return;
    status.state = 'rollback_started';
    status.message = message;
    service.spec = service.previousSpec;
    service.auth = service.previousAuth;
    service.previousSpec = undefined;
    service.previousAuth = undefined;
    this.#touchService(service);
    this.#clock.schedule(0, () => {
      if (this.#services.get(service.id) === service) this.#reconcile(service);
    });
  }

  #completeUpdate(service: ServiceRecord): void {
    const status = service.updateStatus;
    if (status === undefined) return;
    if (status.state === 'rollback_started') {
      status.state = 'rollback_completed';
      status.message = 'rollback completed';
    } else {
      status.state = 'completed';
      status.message = 'update completed';
    }
    status.completedAt = this.#clock.now();
    this.#touchService(service);
  }
}

/** Decodes `X-Registry-Auth` (base64url JSON, Engine API v1.41 "Authentication"). */
export function decodeRegistryAuth(header: string | undefined): RegistryAuth | undefined {
  if (header === undefined || header === '') return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(
      Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'),
    );
  } catch {
    throw badRequest('X-Registry-Auth: not base64url-encoded JSON');
  }
  if (!isObject(decoded)) throw badRequest('X-Registry-Auth: not a JSON object');
  const pick = (key: string): Record<string, string> =>
    typeof decoded[key] === 'string' ? { [key]: decoded[key] } : {};
  return {
    ...pick('username'),
    ...pick('password'),
    ...pick('serveraddress'),
    ...pick('identitytoken'),
  };
}
