/**
 * Shapes of the Docker Engine API SIMULATOR: services, tasks and their specs as the Engine API
 * v1.41 returns them (https://docs.docker.com/engine/api/v1.41/, definitions `Service`,
 * `ServiceSpec`, `TaskSpec`, `Task`, `TaskState`), and the per-image scenarios that decide how a
 * simulated task behaves. Details the reference leaves open (which defaults inspect fills in, the
 * messages a task carries) were recorded on a real Docker Engine 20.10 (API 1.41) in the test lab,
 * and `test/docker/simulator-diff.test.ts` keeps checking them.
 */

/** Engine API error: the engine answers `{"message": …}` with an HTTP status. */
export class EngineError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'EngineError';
    this.status = status;
  }
}

/** Something the real engine does that this simulator does not model: always loud (501). */
export class NotSimulated extends EngineError {
  constructor(what: string) {
    super(501, `${what} is not emulated by the Gantry Docker Engine API SIMULATOR`);
    this.name = 'NotSimulated';
  }
}

/** Bad input: 400 with the engine's wording where known. */
export function badRequest(message: string): EngineError {
  return new EngineError(400, message);
}

/**
 * Task states in lifecycle order (Engine API v1.41 `TaskState` enum). The order matters: swarmkit
 * compares states (`state > running` is a task that ended), and so does the simulator.
 */
export const taskStates = [
  'new',
  'allocated',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskState = (typeof taskStates)[number];

export function stateRank(state: TaskState): number {
  return taskStates.indexOf(state);
}

/** A task that reached `running` or beyond (swarmkit's updater waits for this). */
export function reachedRunning(state: TaskState): boolean {
  return stateRank(state) >= stateRank('running');
}

/** A task whose container is gone (swarmkit: `state > running`). */
export function ended(state: TaskState): boolean {
  return stateRank(state) > stateRank('running');
}

/**
 * How the tasks of an image behave; chosen per image, as the sandbox's ECS emulator chooses its
 * scenarios. Defaults are the timings seen on the lab's busybox images, rounded.
 * - `healthy`: the container starts (`running`) after `startSeconds` (1) and runs until stopped;
 *   like a shell as PID 1 it ignores SIGTERM unless `stopsOnSigterm`, so a stop takes the
 *   service's `StopGracePeriod` (10 s) and ends with exit code 137, as the lab shows.
 * - `crashLoop`: starts, runs `runSeconds` (0.5), exits with `exitCode` (1): the engine's task
 *   error `task: non-zero exit (<code>)`.
 * - `unhealthy`: starts but its HEALTHCHECK never passes: the task stays `starting` and fails after
 *   `unhealthySeconds` (3) with exit code 137 and `task: non-zero exit (137): dockerexec: unhealthy container`.
 * - `unpullable`: the pull fails (`pullError`, logged as the daemon logs it) and, no image being
 *   there, the task is `rejected` with `No such image: <image>`.
 */
export type ImageScenario =
  | 'healthy'
  | 'crashLoop'
  | 'unhealthy'
  | 'unpullable'
  | { readonly kind: 'healthy'; readonly startSeconds?: number; readonly stopsOnSigterm?: boolean }
  | {
      readonly kind: 'crashLoop';
      readonly startSeconds?: number;
      readonly runSeconds?: number;
      readonly exitCode?: number;
    }
  | { readonly kind: 'unhealthy'; readonly startSeconds?: number; readonly unhealthySeconds?: number }
  | { readonly kind: 'unpullable'; readonly pullError?: string };

export interface ResolvedImageScenario {
  readonly kind: 'healthy' | 'crashLoop' | 'unhealthy' | 'unpullable';
  readonly startMs: number;
  readonly runMs: number;
  readonly exitCode: number;
  readonly unhealthyMs: number;
  readonly stopsOnSigterm: boolean;
  readonly pullError: string | undefined;
}

export function resolveImageScenario(scenario: ImageScenario): ResolvedImageScenario {
  const spec: Record<string, unknown> = typeof scenario === 'string' ? { kind: scenario } : { ...scenario };
  const seconds = (key: string, fallback: number): number => {
    const value = spec[key];
    if (value === undefined) return fallback * 1000;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new Error(`Docker simulator scenario: '${key}' must be a number of seconds >= 0`);
    }
    return value * 1000;
  };
  const exitCode = spec.exitCode ?? 1;
  if (!Number.isInteger(exitCode) || (exitCode as number) < 1 || (exitCode as number) > 255) {
    throw new Error('Docker simulator scenario: exitCode must be an integer 1-255 (0 is a clean exit)');
  }
  return {
    kind: spec.kind as ResolvedImageScenario['kind'],
    startMs: seconds('startSeconds', 1),
    runMs: seconds('runSeconds', 0.5),
    exitCode: exitCode as number,
    unhealthyMs: seconds('unhealthySeconds', 3),
    stopsOnSigterm: spec.stopsOnSigterm === true,
    pullError: typeof spec.pullError === 'string' ? spec.pullError : undefined,
  };
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Keys of a service spec the simulator accepts, by path. The real engine ignores unknown JSON
 * keys; the simulator refuses them instead (a key it does not know is a key whose behaviour it
 * cannot promise). Behaviour is simulated for the image, replicas, restart, update and rollback
 * policies, `StopGracePeriod` and `ForceUpdate`; the other accepted keys (labels, command, env,
 * `Healthcheck`, …) are stored and returned as given: how a task behaves comes from its image's
 * scenario, as a container's comes from its image.
 */
const allowedKeys: Readonly<Record<string, readonly string[]>> = {
  Spec: ['Name', 'Labels', 'TaskTemplate', 'Mode', 'UpdateConfig', 'RollbackConfig'],
  'Spec.TaskTemplate': ['ContainerSpec', 'RestartPolicy', 'ForceUpdate', 'Runtime'],
  'Spec.TaskTemplate.ContainerSpec': [
    'Image',
    'Labels',
    'Command',
    'Args',
    'Env',
    'Dir',
    'User',
    'StopSignal',
    'StopGracePeriod',
    'Init',
    'Isolation',
    'Healthcheck',
  ],
  'Spec.TaskTemplate.RestartPolicy': ['Condition', 'Delay', 'MaxAttempts', 'Window'],
  'Spec.Mode': ['Replicated'],
  'Spec.Mode.Replicated': ['Replicas'],
  'Spec.UpdateConfig': ['Parallelism', 'Delay', 'FailureAction', 'Monitor', 'MaxFailureRatio', 'Order'],
  'Spec.RollbackConfig': ['Parallelism', 'Delay', 'FailureAction', 'Monitor', 'MaxFailureRatio', 'Order'],
};

function checkObject(path: string, value: unknown): JsonObject {
  if (!isObject(value)) throw badRequest(`${path} must be an object`);
  const allowed = allowedKeys[path];
  if (allowed !== undefined) {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) throw new NotSimulated(`${path}.${key}`);
    }
  }
  return value;
}

function nanoseconds(path: string, value: Json | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw badRequest(`${path} must be a whole number of nanoseconds >= 0`);
  }
  return value;
}

/** The update/rollback policy the updater runs with, defaults applied (swarmkit `api/defaults`). */
export interface UpdatePolicy {
  readonly parallelism: number;
  readonly delayMs: number;
  readonly failureAction: 'pause' | 'continue' | 'rollback';
  readonly monitorMs: number;
  readonly maxFailureRatio: number;
  readonly order: 'stop-first' | 'start-first';
}

/**
 * Validates a service spec and returns it as inspect shows it: the real engine adds
 * `Labels: {}`, `ContainerSpec.Isolation: "default"`, `TaskTemplate.ForceUpdate: 0`,
 * `TaskTemplate.Runtime: "container"`, `RestartPolicy.MaxAttempts: 0` and
 * `Mode.Replicated.Replicas: 1` (recorded on Docker 20.10), and keeps policies as given.
 */
export function normaliseSpec(raw: unknown): JsonObject {
  const spec = structuredClone(checkObject('Spec', raw));
  if (typeof spec.Name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(spec.Name)) {
    // Engine API v1.41 ServiceSpec.Name; swarmkit validates it as a DNS-like name of at most 63.
    throw badRequest(`invalid name ${JSON.stringify(spec.Name ?? '')}`);
  }
  const template = checkObject('Spec.TaskTemplate', spec.TaskTemplate ?? {});
  const container = checkObject('Spec.TaskTemplate.ContainerSpec', template.ContainerSpec);
  if (typeof container.Image !== 'string' || container.Image === '') {
    throw badRequest('ContainerSpec: image reference must be provided');
  }
  nanoseconds('ContainerSpec.StopGracePeriod', container.StopGracePeriod);
  if (template.RestartPolicy !== undefined) {
    const restart = checkObject('Spec.TaskTemplate.RestartPolicy', template.RestartPolicy);
    if (
      restart.Condition !== undefined &&
      !['none', 'on-failure', 'any'].includes(String(restart.Condition))
    ) {
      throw badRequest(`invalid RestartPolicy.Condition ${JSON.stringify(restart.Condition)}`);
    }
    nanoseconds('RestartPolicy.Delay', restart.Delay);
    nanoseconds('RestartPolicy.Window', restart.Window);
    restart.MaxAttempts = restart.MaxAttempts ?? 0;
  }
  const mode = checkObject('Spec.Mode', spec.Mode ?? { Replicated: { Replicas: 1 } });
  const replicated = checkObject('Spec.Mode.Replicated', mode.Replicated ?? {});
  const replicas = replicated.Replicas ?? 1;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw badRequest('Mode.Replicated.Replicas must be a whole number >= 0');
  }
  replicated.Replicas = replicas;
  mode.Replicated = replicated;
  for (const name of ['UpdateConfig', 'RollbackConfig'] as const) {
    if (spec[name] === undefined) continue;
    const config = checkObject(`Spec.${name}`, spec[name]);
    const actions = name === 'UpdateConfig' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
    if (config.FailureAction !== undefined && !actions.includes(String(config.FailureAction))) {
      throw badRequest(`invalid ${name}.FailureAction ${JSON.stringify(config.FailureAction)}`);
    }
    if (config.Order !== undefined && !['stop-first', 'start-first'].includes(String(config.Order))) {
      throw badRequest(`invalid ${name}.Order ${JSON.stringify(config.Order)}`);
    }
    nanoseconds(`${name}.Delay`, config.Delay);
    nanoseconds(`${name}.Monitor`, config.Monitor);
    const ratio = config.MaxFailureRatio;
    if (ratio !== undefined && (typeof ratio !== 'number' || ratio < 0 || ratio > 1)) {
      throw badRequest(`${name}.MaxFailureRatio must be between 0 and 1`);
    }
  }
  container.Isolation = container.Isolation ?? 'default';
  template.ContainerSpec = container;
  template.ForceUpdate = template.ForceUpdate ?? 0;
  template.Runtime = template.Runtime ?? 'container';
  spec.TaskTemplate = template;
  spec.Labels = spec.Labels ?? {};
  spec.Mode = mode;
  return spec;
}

/** The policy the updater applies (swarmkit `api/defaults`: parallelism 1, pause, 5 s monitor, stop-first). */
export function updatePolicy(spec: JsonObject, which: 'UpdateConfig' | 'RollbackConfig'): UpdatePolicy {
  const config = isObject(spec[which]) ? spec[which] : {};
  return {
    parallelism: typeof config.Parallelism === 'number' ? config.Parallelism : 1,
    delayMs: typeof config.Delay === 'number' ? config.Delay / 1e6 : 0,
    failureAction: (config.FailureAction as UpdatePolicy['failureAction'] | undefined) ?? 'pause',
    monitorMs: typeof config.Monitor === 'number' ? config.Monitor / 1e6 : 5_000,
    maxFailureRatio: typeof config.MaxFailureRatio === 'number' ? config.MaxFailureRatio : 0,
    order: (config.Order as UpdatePolicy['order'] | undefined) ?? 'stop-first',
  };
}

/** Restart policy with swarmkit's defaults (condition `any`, 5 s delay, unlimited attempts). */
export interface RestartPolicy {
  readonly condition: 'none' | 'on-failure' | 'any';
  readonly delayMs: number;
  readonly maxAttempts: number;
  readonly windowMs: number;
}

export function restartPolicy(taskSpec: JsonObject): RestartPolicy {
  const restart = isObject(taskSpec.RestartPolicy) ? taskSpec.RestartPolicy : {};
  return {
    condition: (restart.Condition as RestartPolicy['condition'] | undefined) ?? 'any',
    delayMs: typeof restart.Delay === 'number' ? restart.Delay / 1e6 : 5_000,
    maxAttempts: typeof restart.MaxAttempts === 'number' ? restart.MaxAttempts : 0,
    windowMs: typeof restart.Window === 'number' ? restart.Window / 1e6 : 0,
  };
}

/** The task spec a service's tasks are created from: the template without `Runtime` (as the engine shows it). */
export function taskSpecOf(serviceSpec: JsonObject): JsonObject {
  const { Runtime: _runtime, ...template } = serviceSpec.TaskTemplate as JsonObject;
  return structuredClone(template);
}

export function imageOf(taskSpec: JsonObject): string {
  return String((taskSpec.ContainerSpec as JsonObject).Image);
}

/** `StopGracePeriod` in ms (default 10 s, Engine API v1.41 `ContainerSpec.StopGracePeriod`). */
export function stopGraceMs(taskSpec: JsonObject): number {
  const value = (taskSpec.ContainerSpec as JsonObject).StopGracePeriod;
  return typeof value === 'number' ? value / 1e6 : 10_000;
}

/**
 * The registry host of an image reference, as Docker's reference grammar reads it: the first
 * path component when it has a `.` or `:` or is `localhost`; otherwise Docker Hub.
 */
export function registryOf(image: string): string {
  const first = image.split('/')[0] ?? '';
  if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost'))
    return first;
  return 'docker.io';
}

/** The `sha256:…` digest of a pinned reference, if any. */
export function digestOf(image: string): string | undefined {
  return /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
}
