import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  type ECSClient,
  ListTasksCommand,
  type Service,
} from '@aws-sdk/client-ecs';
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall, type GantryErrorName, hasErrorName } from '../errors.ts';
import { deleteParameter, readParameter, rolloutParameter, writeParameter } from '../parameters.ts';
import { safeJson } from '../release.ts';

/**
 * A paused execution waiting on one ECS deployment. Stored as a SecureString keyed by the
 * deployment id, so an ECS event (which names the deployment) finds the token without a scan.
 */
const rolloutWaitSchema = z.object({
  taskToken: z.string(),
  cluster: z.string(),
  service: z.string(),
  deploymentId: z.string(),
  maxFailedTasks: z.number(),
  /** The state's timeout: a parameter left behind says when it stopped mattering (the sandbox also times the wait with it). */
  timeoutSeconds: z.number().optional(),
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

export interface RolloutDependencies {
  ssm: SSMClient;
  ecs: ECSClient;
  sfn: SFNClient;
  parameterPrefix: string;
}

/** Step Functions limits a failure cause to 32 768 characters. */
const maxCauseLength = 32_768;
/** DescribeTasks takes at most 100 tasks: the config's maxFailedTasks stays below that. */
const maxTasksDescribed = 100;

/**
 * Parks the execution's task token against the deployment, then looks once: the rollout may
 * have ended (and its event been delivered) before the token was stored.
 */
export async function registerRolloutWait(
  deps: RolloutDependencies,
  wait: RolloutWait,
): Promise<RolloutVerdict> {
  const name = rolloutParameter(deps.parameterPrefix, wait.deploymentId);
  await writeParameter(deps.ssm, name, JSON.stringify(wait), { overwrite: true, secure: true });
  const verdict = await evaluateRollout(deps.ecs, wait, { deadlinePassed: false });
  if (verdict.outcome !== 'pending') await settleRollout(deps, wait, verdict);
  return verdict;
}

export async function readRolloutWait(
  deps: RolloutDependencies,
  deploymentId: string,
): Promise<RolloutWait | undefined> {
  const stored = await readParameter(deps.ssm, rolloutParameter(deps.parameterPrefix, deploymentId), {
    decrypt: true,
  });
  const parsed = stored ? rolloutWaitSchema.safeParse(safeJson(stored.value)) : undefined;
  return parsed?.success ? parsed.data : undefined;
}

/** Removes the parked token without resuming anyone: the execution stopped waiting by itself. */
export async function withdrawRolloutWait(deps: RolloutDependencies, deploymentId: string): Promise<void> {
  await deleteParameter(deps.ssm, rolloutParameter(deps.parameterPrefix, deploymentId));
}

/**
 * Resumes the waiting execution exactly once: deleting the parameter is the claim, so of two
 * racing resumers (an event and the timeout fallback, or a redelivered event) only one sends.
 */
export async function settleRollout(
  deps: RolloutDependencies,
  wait: RolloutWait,
  verdict: Exclude<RolloutVerdict, { outcome: 'pending' }>,
): Promise<boolean> {
  if (!(await deleteParameter(deps.ssm, rolloutParameter(deps.parameterPrefix, wait.deploymentId))))
    return false;
  try {
    if (verdict.outcome === 'completed') {
      await awsCall('resuming the execution', () =>
        deps.sfn.send(
          new SendTaskSuccessCommand({
            taskToken: wait.taskToken,
            output: JSON.stringify(rolloutCompleted(verdict.deploymentId)),
          }),
        ),
      );
    } else {
      await awsCall('failing the execution', () =>
        deps.sfn.send(
          new SendTaskFailureCommand({
            taskToken: wait.taskToken,
            error: verdict.error,
            cause: failureCause(verdict),
          }),
        ),
      );
    }
  } catch (error) {
    // The execution already left the wait (its timeout fired first): nothing left to resume.
    if (hasErrorName(error, 'TaskTimedOut') || hasErrorName(error, 'TaskDoesNotExist')) return false;
    // Not sent: park the token again so the event's redelivery (or the timeout) can resume it.
    await writeParameter(
      deps.ssm,
      rolloutParameter(deps.parameterPrefix, wait.deploymentId),
      JSON.stringify(wait),
      {
        overwrite: true,
        secure: true,
      },
    );
    throw error;
  }
  return true;
}

/** What WaitForRollout and CheckRollout put at `$.rollout` when the rollout completed. */
export function rolloutCompleted(deploymentId: string): { rolloutState: 'COMPLETED'; deploymentId: string } {
  return { rolloutState: 'COMPLETED', deploymentId };
}

/** The JSON `Cause` the state machine's rollback reads; trimmed to fit Step Functions' limit. */
export function failureCause(verdict: Extract<RolloutVerdict, { outcome: 'failed' }>): string {
  const { outcome: _, error: __, ...details } = verdict;
  let text = JSON.stringify(details);
  for (
    let keep = details.stoppedTasks.length;
    text.length > maxCauseLength && keep > 0;
    keep = Math.floor(keep / 2)
  ) {
    text = JSON.stringify({
      ...details,
      event: undefined,
      stoppedTasks: details.stoppedTasks.slice(0, keep),
    });
  }
  return text.length > maxCauseLength ? JSON.stringify({ message: details.message.slice(0, 1000) }) : text;
}

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
function withObserved(observed: readonly StoppedTask[], listed: readonly StoppedTask[]): StoppedTask[] {
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
