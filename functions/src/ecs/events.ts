import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { readRolloutWait, settleRollout } from '../coordination/waits.ts';
import { awsCall, InputInvalid } from '../errors.ts';
import type { RolloutJudgement } from '../targets/target.ts';
import * as z from '../zod.ts';
import {
  circuitBreakerRollsBack,
  evaluateRollout,
  isFailedTask,
  type RolloutDependencies,
  type RolloutVerdict,
  type RolloutWait,
  rolloutWaitSchema,
  stoppedTasksOf,
  toStoppedTask,
} from './rollout.ts';
import { judgeServiceDeployment, type ServiceDeploymentWatch } from './service-deployment.ts';

/**
 * Only the fields a decision reads are checked, and a malformed optional one is dropped rather
 * than refused: an event is a hint, and one that cannot apply is ignored with a reason, never
 * thrown (Lambda retries a failed asynchronous invocation twice, for nothing:
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html). Shapes: "Amazon ECS
 * service deployment state change events" and "Amazon ECS task state change events"
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html,
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html).
 */
const optionalString = z.catch(z.optional(z.string()), undefined);

const deploymentStateChangeSchema = z.looseObject({
  'detail-type': z.literal('ECS Deployment State Change'),
  detail: z.looseObject({
    eventName: z.string(),
    deploymentId: z.string(),
    reason: optionalString,
  }),
});

const taskStateChangeSchema = z.looseObject({
  'detail-type': z.literal('ECS Task State Change'),
  detail: z.looseObject({
    taskArn: z.string(),
    lastStatus: z.string(),
    startedBy: optionalString,
    stopCode: optionalString,
    stoppedReason: optionalString,
    containers: z.catch(
      z.optional(
        z.array(
          z.looseObject({
            name: optionalString,
            exitCode: z.catch(z.optional(z.number()), undefined),
            reason: optionalString,
          }),
        ),
      ),
      undefined,
    ),
  }),
});

/**
 * "Amazon ECS service deployment hook state change events"
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_hook_events.html): `resources`
 * may be absent or empty (the pause hooks page's sample has none), so only the detail is read.
 */
const hookStateChangeSchema = z.looseObject({
  'detail-type': z.literal('ECS Hook State Change'),
  detail: z.looseObject({
    eventName: z.string(),
    clusterArn: z.string(),
    serviceArn: z.string(),
    serviceDeploymentArn: z.string(),
  }),
});

export type EcsEvent =
  | z.infer<typeof deploymentStateChangeSchema>
  | z.infer<typeof taskStateChangeSchema>
  | z.infer<typeof hookStateChangeSchema>;

export type EcsEventOutcome =
  | { action: 'ignored'; why: string }
  | { action: 'resumed'; deploymentId: string; outcome: 'completed' | 'failed' | 'gate'; error?: string }
  | { action: 'already-resumed'; deploymentId: string };

const schemas = new Map<string, z.ZodMiniType<EcsEvent>>([
  ['ECS Deployment State Change', deploymentStateChangeSchema],
  ['ECS Task State Change', taskStateChangeSchema],
  ['ECS Hook State Change', hookStateChangeSchema],
]);

/**
 * An `aws.ecs` event Gantry can judge, or why it does not apply. Anything that is not an ECS event
 * at all is bad input (a wiring mistake): `InputInvalid`.
 */
function readEcsEvent(event: unknown): { event: EcsEvent } | { ignored: string } {
  const envelope = z
    .looseObject({ source: z.literal('aws.ecs'), 'detail-type': z.string() })
    .safeParse(event);
  if (!envelope.success) throw new InputInvalid('not an EventBridge event from aws.ecs');
  const detailType = envelope.data['detail-type'];
  const schema = schemas.get(detailType);
  if (schema === undefined) return { ignored: `${detailType} is not a deployment or task state change` };
  const parsed = schema.safeParse(event);
  if (!parsed.success) {
    const missing = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
    return { ignored: `${detailType} without a usable ${missing}` };
  }
  return { event: parsed.data };
}

/**
 * Wakes the execution waiting on the event's deployment, if any. Events are hints delivered at
 * least once and possibly late: every decision is safe to repeat and only one resume is sent.
 */
export async function handleEcsEvent(deps: RolloutDependencies, raw: unknown): Promise<EcsEventOutcome> {
  const read = readEcsEvent(raw);
  if ('ignored' in read) return { action: 'ignored', why: read.ignored };
  const { event } = read;
  if (event['detail-type'] === 'ECS Hook State Change') return handleHookEvent(deps, event);
  const deploymentId =
    event['detail-type'] === 'ECS Deployment State Change'
      ? event.detail.deploymentId
      : event.detail.startedBy;
  if (!deploymentId?.startsWith('ecs-svc/'))
    return { action: 'ignored', why: 'not started by a service deployment' };
  if (event['detail-type'] === 'ECS Task State Change') {
    if (event.detail.lastStatus !== 'STOPPED') {
      return { action: 'ignored', why: `task is ${event.detail.lastStatus}, not STOPPED` };
    }
    // The rule only delivers stops that can count; one that cannot is not worth a read.
    if (!isFailedTask(toStoppedTask(event.detail))) {
      return {
        action: 'ignored',
        why: `the task stopped for a reason that is not a failure (${event.detail.stopCode ?? 'no stop code'})`,
      };
    }
  }
  if (
    event['detail-type'] === 'ECS Deployment State Change' &&
    !['SERVICE_DEPLOYMENT_COMPLETED', 'SERVICE_DEPLOYMENT_FAILED'].includes(event.detail.eventName)
  ) {
    return { action: 'ignored', why: `${event.detail.eventName} does not end a rollout` };
  }
  const wait = await readRolloutWait(deps, deploymentId, rolloutWaitSchema);
  if (!wait) return { action: 'ignored', why: 'no execution waits on this deployment' };

  const verdict = wait.watch
    ? await judgeStaged(deps, { ...wait, watch: wait.watch }, event)
    : await verdictFor(deps, wait, event);
  return resume(deps, wait, verdict);
}

/** Resumes the parked execution with a settled verdict, once. */
async function resume(
  deps: RolloutDependencies,
  wait: RolloutWait,
  verdict: RolloutVerdict | RolloutJudgement,
): Promise<EcsEventOutcome> {
  const { deploymentId } = wait;
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

/**
 * A staged deployment's event only wakes Gantry up: the verdict is read from
 * DescribeServiceDeployments (the status is the truth; "ECS Deployment State Change" is documented
 * only generically for these strategies, issue 12). A stopped task the event describes counts
 * toward `maxFailedTasks` even before ListTasks shows it.
 */
function judgeStaged(
  deps: RolloutDependencies,
  wait: RolloutWait & { watch: ServiceDeploymentWatch },
  event: EcsEvent,
): Promise<RolloutJudgement> {
  return judgeServiceDeployment(deps.ecs, wait, {
    deadlinePassed: false,
    ...(event['detail-type'] === 'ECS Task State Change' && { observed: [toStoppedTask(event.detail)] }),
  });
}

/**
 * A hook event names the service deployment, not the ECS deployment the wait is parked under:
 * the service's PRIMARY deployment is that one while the service deployment is current
 * (DescribeServices `currentServiceDeployment`). A hook of a deployment that is no longer current
 * (superseded) has nobody waiting on it.
 */
async function handleHookEvent(
  deps: RolloutDependencies,
  event: z.infer<typeof hookStateChangeSchema>,
): Promise<EcsEventOutcome> {
  const { clusterArn, serviceArn, serviceDeploymentArn } = event.detail;
  const { services } = await awsCall('describing the service', () =>
    deps.ecs.send(new DescribeServicesCommand({ cluster: clusterArn, services: [serviceArn] })),
  );
  const service = services?.[0];
  if (service?.currentServiceDeployment !== serviceDeploymentArn) {
    return { action: 'ignored', why: 'the hook belongs to a service deployment that is no longer current' };
  }
  const primary = service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
  if (!primary?.id) return { action: 'ignored', why: 'the service has no PRIMARY deployment' };
  const wait = await readRolloutWait(deps, primary.id, rolloutWaitSchema);
  if (wait?.watch?.serviceDeploymentArn !== serviceDeploymentArn) {
    return { action: 'ignored', why: 'no execution waits on this service deployment' };
  }
  const verdict = await judgeStaged(deps, { ...wait, watch: wait.watch }, event);
  return resume(deps, wait, verdict);
}

async function verdictFor(
  deps: RolloutDependencies,
  wait: RolloutWait,
  event: EcsEvent,
): Promise<RolloutVerdict> {
  if (event['detail-type'] === 'ECS Task State Change') {
    // The event is the freshest word on its own task: ListTasks may not list it yet. It carries
    // the task, its stop code and reason and its containers' exit codes, as DescribeTasks does
    // ("Amazon ECS task state change events",
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html).
    const verdict = await evaluateRollout(deps.ecs, wait, {
      deadlinePassed: false,
      observed: [toStoppedTask(event.detail)],
    });
    // The event itself is not kept: its stopped task is already among the verdict's, and a task
    // event's detail carries the task's overrides (environment values included), which must not
    // reach the failure cause, the release record or the announcement.
    return verdict;
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
