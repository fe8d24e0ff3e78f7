/**
 * The agent's decisions, as plain functions over plain data: whether an order may run, what a
 * service's update looks like, and how a rollout ended. No Docker, no AWS here, so every rule is
 * unit-tested with literals.
 */
import {
  finalSwarmRolloutStates,
  type SwarmOrder,
  type SwarmPolicy,
  type SwarmRolloutState,
  swarmOrderSchema,
} from '../../functions/src/swarm/contract.ts';
import type { AgentConfig, AgentTarget, RegistryRule } from './config.ts';

/** Label the agent puts on each service it updates: which order the spec belongs to. */
export const deploymentLabel = 'gantry.deployment-id';

export type OrderCheck =
  | { readonly ok: true; readonly order: SwarmOrder }
  | { readonly ok: false; readonly deploymentId: string; readonly reason: string };

/** `registry/repository@sha256:…` split; the contract's schema has already checked the shape. */
export function splitImage(image: string): { registry: string; repository: string } {
  const slash = image.indexOf('/');
  const at = image.indexOf('@');
  return { registry: image.slice(0, slash), repository: image.slice(slash + 1, at < 0 ? undefined : at) };
}

/** The allow-list rule that admits this image, if any. */
export function registryRuleFor(
  config: Pick<AgentConfig, 'registries'>,
  image: string,
): RegistryRule | undefined {
  const { registry, repository } = splitImage(image);
  return config.registries.find(
    (rule) =>
      rule.registry === registry &&
      (rule.repositories.includes('*') || rule.repositories.includes(repository)),
  );
}

/**
 * Whether this agent may run the order found at its target's order parameter. Refusals name the
 * rule broken, in words a person reads (they go to the status parameter and the event).
 */
export function checkOrder(
  raw: string,
  target: AgentTarget,
  config: Pick<AgentConfig, 'registries'>,
): OrderCheck {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, deploymentId: 'unknown', reason: 'the order is not JSON' };
  }
  const claimed = (json as { deploymentId?: unknown } | null)?.deploymentId;
  const deploymentId = typeof claimed === 'string' && claimed.length > 0 ? claimed.slice(0, 80) : 'unknown';
  const parsed = swarmOrderSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    return {
      ok: false,
      deploymentId,
      reason: `the order fails its schema: ${issues.join('; ')}`.slice(0, 2_000),
    };
  }
  const order = parsed.data;
  if (order.app !== target.app || order.env !== target.env) {
    return {
      ok: false,
      deploymentId,
      reason: `the order is for ${order.app}/${order.env}, but its parameter belongs to ${target.app}/${target.env}`,
    };
  }
  const foreign = order.services
    .filter((service) => !target.services.includes(service.name))
    .map((s) => s.name);
  if (foreign.length > 0) {
    return {
      ok: false,
      deploymentId,
      reason: `services outside ${target.app}/${target.env} on this swarm: ${foreign.join(', ')}`,
    };
  }
  const duplicated = order.services.map((s) => s.name).filter((name, i, all) => all.indexOf(name) !== i);
  if (duplicated.length > 0) {
    return {
      ok: false,
      deploymentId,
      reason: `services named twice: ${[...new Set(duplicated)].join(', ')}`,
    };
  }
  const disallowed = order.services.filter((service) => registryRuleFor(config, service.image) === undefined);
  if (disallowed.length > 0) {
    return {
      ok: false,
      deploymentId,
      reason: `images outside this agent's registry allow-list: ${disallowed.map((s) => s.image).join(', ')}`,
    };
  }
  return { ok: true, order };
}

/** Docker's duration unit is the nanosecond (Engine API, `UpdateConfig.Delay`/`Monitor`). */
const nanoseconds = (seconds: number): number => Math.round(seconds * 1e9);

/**
 * The order's policy as Docker's `UpdateConfig` and `RollbackConfig`. Both are always set: the
 * engine's default rollback failure action is `pause` and its default monitor 5 s, and a service
 * created by hand may carry anything (../shared/TOOLCHAIN.md, "A Swarm rollback can itself pause").
 */
export function updatePolicy(policy: SwarmPolicy) {
  const common = (p: SwarmPolicy['update'] | SwarmPolicy['rollback']) => ({
    Parallelism: p.parallelism,
    Delay: nanoseconds(p.delaySeconds),
    Monitor: nanoseconds(p.monitorSeconds),
    MaxFailureRatio: p.maxFailureRatio,
    Order: p.order,
  });
  return {
    UpdateConfig: { ...common(policy.update), FailureAction: policy.update.failureAction },
    RollbackConfig: { ...common(policy.rollback), FailureAction: policy.rollback.failureAction },
  };
}

/** The app's environment parameter (a JSON object of strings) as Docker's `Env` list, sorted. */
export function renderEnvironment(raw: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error('the environment parameter is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error('the environment parameter must be a JSON object of strings');
  }
  const entries = Object.entries(json as Record<string, unknown>);
  // Values are never echoed: they are the app's secrets.
  const badKeys = entries.filter(([key]) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)).map(([key]) => key);
  if (badKeys.length > 0) throw new Error(`environment variable names are invalid: ${badKeys.join(', ')}`);
  const notStrings = entries.filter(([, value]) => typeof value !== 'string').map(([key]) => key);
  if (notStrings.length > 0) throw new Error(`environment values must be strings: ${notStrings.join(', ')}`);
  return entries.map(([key, value]) => `${key}=${String(value)}`).sort();
}

/** One task as the agent reads it from the engine (a subset of the Engine API's `Task`). */
export interface TaskView {
  readonly id: string;
  readonly desiredState: string;
  readonly state: string;
  readonly error?: string | undefined;
  readonly exitCode?: number | undefined;
  readonly image: string;
  /** `Spec.ContainerSpec.Env` and `Spec.ForceUpdate` of the task: which service spec it runs. */
  readonly env: readonly string[];
  readonly forceUpdate: number;
  readonly timestamp: string;
}

/** One service as the agent reads it from the engine. */
export interface ServiceView {
  readonly name: string;
  /** The deployment the current spec was written for (our label), if any. */
  readonly specDeployment?: string | undefined;
  readonly specImage: string;
  readonly specEnv: readonly string[];
  readonly specForceUpdate: number;
  /** Replicas wanted; undefined for global services. */
  readonly replicas?: number | undefined;
  readonly updateState?: string | undefined;
  readonly updateMessage?: string | undefined;
  readonly tasks: readonly TaskView[];
}

export interface ServiceVerdict {
  readonly state: SwarmRolloutState;
  readonly reason?: string;
  /**
   * The engine says the rollback completed but the previous spec's tasks are not all running yet:
   * worth watching a little longer so the report shows what really runs.
   */
  readonly settling?: boolean;
}

/** Tasks that should run and do. */
export function runningTasks(view: ServiceView): TaskView[] {
  return view.tasks.filter((task) => task.desiredState === 'running' && task.state === 'running');
}

/** Every running task runs the current spec (image, env, force counter), as many as wanted. */
export function converged(view: ServiceView): boolean {
  const running = runningTasks(view);
  const sameSpec = running.every(
    (task) =>
      task.image === view.specImage &&
      task.forceUpdate === view.specForceUpdate &&
      task.env.join('\n') === view.specEnv.join('\n'),
  );
  const enough = view.replicas === undefined ? running.length > 0 : running.length === view.replicas;
  // Tasks still starting for the current spec mean it is not over yet.
  const starting = view.tasks.some(
    (task) => task.desiredState === 'running' && task.state !== 'running' && task.image === view.specImage,
  );
  return sameSpec && enough && !starting;
}

/**
 * How one service's rollout for `deploymentId` stands. Judged from the engine's state and the
 * tasks actually running, never from a CLI exit code (docker/cli#6752: `docker service update`
 * exits 0 after an automatic rollback).
 *
 * The engine resets `UpdateStatus` when a spec is written (swarmkit controlapi `UpdateService`:
 * "Reset update status"), so a status present while the spec carries our label is about our
 * update; none means the updater has not started yet, or had nothing to do (same task spec).
 */
export function judgeService(view: ServiceView, deploymentId: string, orderImage: string): ServiceVerdict {
  const ours = view.specDeployment === deploymentId;
  const state = view.updateState;
  if (!ours) {
    // An automatic rollback writes the previous spec back and clears PreviousSpec (swarmkit
    // updater `rollbackUpdate`), so our label is gone; the rollback status is the trace. The
    // status was reset by our write, so a rollback status now is the rollback of our update.
    if (state === 'rollback_completed') return { state, reason: reasonOf(view), settling: !converged(view) };
    if (state === 'rollback_paused') return { state, reason: reasonOf(view) };
    if (state === 'rollback_started') return { state: 'updating' };
    return {
      state: 'failed',
      reason: `${view.name} no longer carries this deployment's spec (changed by someone else)`,
    };
  }
  switch (state) {
    case 'updating':
    case 'rollback_started':
      return { state: 'updating' };
    case 'paused':
      return { state: 'paused', reason: reasonOf(view) };
    case 'rollback_completed':
      return { state, reason: reasonOf(view), settling: !converged(view) };
    case 'rollback_paused':
      return { state, reason: reasonOf(view) };
    case 'completed':
    case undefined:
      if (!converged(view)) return { state: 'updating' };
      if (view.specImage !== orderImage) {
        return {
          state: 'failed',
          reason: `${view.name} runs ${view.specImage}, not the ordered ${orderImage}`,
        };
      }
      return { state: 'completed' };
    default:
      return { state: 'failed', reason: `${view.name}: unknown UpdateStatus.State '${state}'` };
  }
}

function reasonOf(view: ServiceView): string {
  const failed = failedTasks(view)[0];
  const task =
    failed === undefined
      ? ''
      : `; task ${failed.taskId} ${failed.state}${failed.exitCode === undefined ? '' : ` (exit ${failed.exitCode})`}${failed.error === undefined ? '' : `: ${failed.error}`}`;
  return `${view.name}: ${view.updateMessage ?? view.updateState ?? 'no update status'}${task}`.slice(0, 600);
}

/** Failed tasks, newest first, as the report's forensics (at most 10 per service). */
export function failedTasks(view: ServiceView) {
  return (
    view.tasks
      // A task the engine shut down on purpose (replaced by the update) exits 137: not a failure.
      .filter(
        (task) =>
          task.state === 'failed' ||
          task.state === 'rejected' ||
          (task.state !== 'shutdown' && (task.exitCode ?? 0) !== 0),
      )
      .sort((a, b) => b.timestamp.localeCompare(a.timestamp))
      .slice(0, 10)
      .map((task) => ({
        taskId: task.id,
        state: task.state,
        ...(task.error === undefined || task.error === '' ? {} : { error: task.error.slice(0, 500) }),
        ...(task.exitCode === undefined ? {} : { exitCode: task.exitCode }),
        image: task.image,
      }))
  );
}

/**
 * An order is all or nothing: it completed only when every service did. Otherwise the worst
 * outcome names it, the states where the engine may still be failing first (Gantry must act on
 * those), then a plain failure, then a clean automatic rollback.
 */
export function aggregate(states: readonly SwarmRolloutState[]): SwarmRolloutState | 'updating' {
  if (states.some((state) => !finalSwarmRolloutStates.includes(state))) return 'updating';
  for (const worst of ['rollback_paused', 'paused', 'failed', 'rollback_completed'] as const) {
    if (states.includes(worst)) return worst;
  }
  return 'completed';
}
