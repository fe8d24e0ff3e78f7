import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  type ECSClient,
  ListTasksCommand,
  type Service,
} from '@aws-sdk/client-ecs';
import { parkedWaitSchema, type WaitDependencies } from '../coordination/waits.ts';
import { awsCall, type GantryErrorName } from '../errors.ts';
import * as z from '../zod.ts';
import { watchSchema } from './watch.ts';

/** A paused execution waiting on one ECS deployment (parked by the coordination module). */
export const rolloutWaitSchema = z.extend(parkedWaitSchema, {
  cluster: z.string(),
  service: z.string(),
  maxFailedTasks: z.number(),
  /** A staged (blue/green, linear, canary) rollout: its ServiceDeploymentWatch (service-deployment.ts). */
  watch: z.optional(watchSchema),
});
export type RolloutWait = z.infer<typeof rolloutWaitSchema>;

export interface StoppedTask {
  taskArn: string;
  stopCode?: string;
  stoppedReason?: string;
  containers: { name?: string; exitCode?: number; reason?: string }[];
}

export type RolloutVerdict =
  | { outcome: 'completed'; deploymentId: string }
  | { outcome: 'pending' }
  | {
      outcome: 'failed';
      error: Extract<GantryErrorName, 'RolloutFailed' | 'RolloutTimedOut'>;
      message: string;
      deploymentId: string;
      /** ECS's circuit breaker already put the previous deployment back: do not roll back twice. */
      ecsRolledBack: boolean;
      stoppedTasks: StoppedTask[];
      event?: unknown;
    };

export interface RolloutDependencies extends WaitDependencies {
  ecs: ECSClient;
}

/** DescribeTasks takes at most 100 tasks: the config's maxFailedTasks stays below that. */
const maxTasksDescribed = 100;

/**
 * Reads the service itself: the fallback when no event came, the first look after parking, and
 * the judgement of an event. `observed` are stopped tasks an event described: they count even
 * when ListTasks does not show them yet (its view lags behind the events), so ListTasks and
 * DescribeTasks only add to the count, never veto it. The deployment's own `failedTasks` cannot
 * replace this count: it counts consecutive failures and resets to zero once a task of the
 * deployment runs (ECS API model, `Deployment.failedTasks` in @aws-sdk/client-ecs), so a crash
 * loop whose tasks reach RUNNING before they exit may never show there.
 */
export async function evaluateRollout(
  ecs: ECSClient,
  wait: Omit<RolloutWait, 'taskToken'>,
  options: { deadlinePassed: boolean; observed?: readonly StoppedTask[] },
): Promise<RolloutVerdict> {
  const { services } = await awsCall('describing the service rollout', () =>
    ecs.send(new DescribeServicesCommand({ cluster: wait.cluster, services: [wait.service] })),
  );
  const service = services?.[0];
  const deployment = service?.deployments?.find((candidate) => candidate.id === wait.deploymentId);
  const ecsRolledBack = circuitBreakerRollsBack(service);
  if (deployment?.rolloutState === 'COMPLETED')
    return { outcome: 'completed', deploymentId: wait.deploymentId };

  const failed = (message: string, error: 'RolloutFailed' | 'RolloutTimedOut', stoppedTasks: StoppedTask[]) =>
    ({
      outcome: 'failed',
      error,
      message,
      deploymentId: wait.deploymentId,
      ecsRolledBack: error === 'RolloutFailed' && ecsRolledBack && deployment?.rolloutState === 'FAILED',
      stoppedTasks,
    }) as const;

  const stopped = withObserved(
    options.observed ?? [],
    await stoppedTasksOf(ecs, wait.cluster, wait.deploymentId),
  );
  if (deployment?.rolloutState === 'FAILED') {
    return failed(
      `ECS reported the rollout FAILED: ${deployment.rolloutStateReason ?? 'no reason given'}`,
      'RolloutFailed',
      stopped,
    );
  }
  const failedTasks = stopped.filter(isFailedTask);
  if (failedTasks.length >= wait.maxFailedTasks) {
    return failed(
      `${failedTasks.length} task(s) of the new deployment stopped (limit ${wait.maxFailedTasks})`,
      'RolloutFailed',
      failedTasks,
    );
  }
  if (!deployment) {
    return failed(
      `deployment ${wait.deploymentId} is no longer on the service`,
      'RolloutFailed',
      failedTasks,
    );
  }
  if (options.deadlinePassed) {
    return failed(
      `the rollout did not complete in time (rolloutState ${deployment.rolloutState ?? 'unknown'}, ${deployment.runningCount ?? 0}/${deployment.desiredCount ?? 0} running)`,
      'RolloutTimedOut',
      failedTasks,
    );
  }
  return { outcome: 'pending' };
}

/** Whether ECS itself puts the previous deployment back when this service's rollout fails. */
export function circuitBreakerRollsBack(service: Service | undefined): boolean {
  const breaker = service?.deploymentConfiguration?.deploymentCircuitBreaker;
  return Boolean(breaker?.enable && breaker.rollback);
}

/**
 * A stop that says the new version is broken. Tasks drained by a scale-in or a later deployment
 * stop too, with `ServiceSchedulerInitiated` and no health-check reason: those do not count.
 */
export function isFailedTask(task: StoppedTask): boolean {
  if (task.stopCode === 'EssentialContainerExited' || task.stopCode === 'TaskFailedToStart') return true;
  // ECS gives no stop code for a failed load-balancer or container health check, only this text.
  return /health ?check/i.test(task.stoppedReason ?? '');
}

/** The tasks events described, then those ListTasks adds: one entry per task. */
export function withObserved(
  observed: readonly StoppedTask[],
  listed: readonly StoppedTask[],
): StoppedTask[] {
  const seen = new Set(observed.map((task) => task.taskArn));
  return [...observed, ...listed.filter((task) => !seen.has(task.taskArn))];
}

export async function stoppedTasksOf(
  ecs: ECSClient,
  cluster: string,
  deploymentId: string,
): Promise<StoppedTask[]> {
  const { taskArns } = await awsCall('listing stopped tasks', () =>
    ecs.send(new ListTasksCommand({ cluster, startedBy: deploymentId, desiredStatus: 'STOPPED' })),
  );
  if (!taskArns || taskArns.length === 0) return [];
  const { tasks } = await awsCall('describing stopped tasks', () =>
    ecs.send(new DescribeTasksCommand({ cluster, tasks: taskArns.slice(0, maxTasksDescribed) })),
  );
  return (tasks ?? []).map(toStoppedTask);
}

/** What Gantry keeps of a stopped task, from DescribeTasks or from the task's own event. */
export function toStoppedTask(task: {
  taskArn?: string | undefined;
  stopCode?: string | undefined;
  stoppedReason?: string | undefined;
  containers?:
    | { name?: string | undefined; exitCode?: number | undefined; reason?: string | undefined }[]
    | undefined;
}): StoppedTask {
  return {
    taskArn: task.taskArn ?? 'unknown',
    ...(task.stopCode !== undefined && { stopCode: task.stopCode }),
    ...(task.stoppedReason !== undefined && { stoppedReason: task.stoppedReason }),
    containers: (task.containers ?? []).map((container) => ({
      ...(container.name !== undefined && { name: container.name }),
      ...(container.exitCode !== undefined && { exitCode: container.exitCode }),
      ...(container.reason !== undefined && { reason: container.reason }),
    })),
  };
}
