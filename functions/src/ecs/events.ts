import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import * as z from 'zod';
import { readRolloutWait, settleRollout } from '../coordination/waits.ts';
import { awsCall, InputInvalid } from '../errors.ts';
import {
  circuitBreakerRollsBack,
  evaluateRollout,
  type RolloutDependencies,
  type RolloutVerdict,
  type RolloutWait,
  rolloutWaitSchema,
  stoppedTasksOf,
} from './rollout.ts';

const deploymentStateChangeSchema = z.object({
  'detail-type': z.literal('ECS Deployment State Change'),
  resources: z.array(z.string()).default([]),
  detail: z.looseObject({
    eventName: z.string(),
    deploymentId: z.string(),
    reason: z.string().optional(),
  }),
});

const taskStateChangeSchema = z.object({
  'detail-type': z.literal('ECS Task State Change'),
  detail: z.looseObject({
    clusterArn: z.string(),
    taskArn: z.string(),
    lastStatus: z.string(),
    startedBy: z.string().optional(),
    stopCode: z.string().optional(),
    stoppedReason: z.string().optional(),
  }),
});

const ecsEventSchema = z.union([deploymentStateChangeSchema, taskStateChangeSchema]);
export type EcsEvent = z.infer<typeof ecsEventSchema>;

export type EcsEventOutcome =
  | { action: 'ignored'; why: string }
  | { action: 'resumed'; deploymentId: string; outcome: 'completed' | 'failed'; error?: string }
  | { action: 'already-resumed'; deploymentId: string };

export function parseEcsEvent(event: unknown): EcsEvent {
  const parsed = ecsEventSchema.safeParse(event);
  if (!parsed.success)
    throw new InputInvalid('not an ECS Deployment State Change or Task State Change event');
  return parsed.data;
}

/**
 * Wakes the execution waiting on the event's deployment, if any. Events are hints delivered at
 * least once and possibly late: every decision is safe to repeat and only one resume is sent.
 */
export async function handleEcsEvent(deps: RolloutDependencies, event: EcsEvent): Promise<EcsEventOutcome> {
  const deploymentId =
    event['detail-type'] === 'ECS Deployment State Change'
      ? event.detail.deploymentId
      : event.detail.startedBy;
  if (!deploymentId?.startsWith('ecs-svc/'))
    return { action: 'ignored', why: 'not started by a service deployment' };
  if (event['detail-type'] === 'ECS Task State Change' && event.detail.lastStatus !== 'STOPPED') {
    return { action: 'ignored', why: `task is ${event.detail.lastStatus}, not STOPPED` };
  }
  if (
    event['detail-type'] === 'ECS Deployment State Change' &&
    !['SERVICE_DEPLOYMENT_COMPLETED', 'SERVICE_DEPLOYMENT_FAILED'].includes(event.detail.eventName)
  ) {
    return { action: 'ignored', why: `${event.detail.eventName} does not end a rollout` };
  }
  const wait = await readRolloutWait(deps, deploymentId, rolloutWaitSchema);
  if (!wait) return { action: 'ignored', why: 'no execution waits on this deployment' };

  const verdict = await verdictFor(deps, wait, event);
  if (verdict.outcome === 'pending') return { action: 'ignored', why: 'rollout still in progress' };
  const resumed = await settleRollout(deps, wait, verdict);
  if (!resumed) return { action: 'already-resumed', deploymentId };
  return {
    action: 'resumed',
    deploymentId,
    outcome: verdict.outcome,
    ...(verdict.outcome === 'failed' && { error: verdict.error }),
  };
}

async function verdictFor(
  deps: RolloutDependencies,
  wait: RolloutWait,
  event: EcsEvent,
): Promise<RolloutVerdict> {
  if (event['detail-type'] === 'ECS Task State Change') {
    const verdict = await evaluateRollout(deps.ecs, wait, { deadlinePassed: false });
    return verdict.outcome === 'failed' ? { ...verdict, event: event.detail } : verdict;
  }
  if (event.detail.eventName === 'SERVICE_DEPLOYMENT_COMPLETED') {
    return { outcome: 'completed', deploymentId: wait.deploymentId };
  }
  const [stoppedTasks, ecsRolledBack] = await Promise.all([
    stoppedTasksOf(deps.ecs, wait.cluster, wait.deploymentId),
    describeBreaker(deps, wait),
  ]);
  return {
    outcome: 'failed',
    error: 'RolloutFailed',
    message: `ECS reported the rollout FAILED: ${event.detail.reason ?? 'no reason given'}`,
    deploymentId: wait.deploymentId,
    ecsRolledBack,
    stoppedTasks,
    event: event.detail,
  };
}

async function describeBreaker(deps: RolloutDependencies, wait: RolloutWait): Promise<boolean> {
  const { services } = await awsCall('describing the service', () =>
    deps.ecs.send(new DescribeServicesCommand({ cluster: wait.cluster, services: [wait.service] })),
  );
  return circuitBreakerRollsBack(services?.[0]);
}
