import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { ContinueServiceDeploymentCommand, type ECSClient } from '@aws-sdk/client-ecs';
import type { DeployConfig, GatesConfig } from '../config/schema.ts';
import { awsCall, hasErrorName, InputInvalid } from '../errors.ts';
import type { TargetDeployment } from '../targets/target.ts';
import { isFailedTask, stoppedTasksOf } from './rollout.ts';
import { type GateDecision, rearm } from './service-deployment.ts';

export interface GateDependencies {
  ecs: ECSClient;
  cloudwatch: CloudWatchClient;
  /** The HTTP probe's client: global fetch on AWS, a stand-in in tests. */
  fetch: typeof fetch;
  now: () => Date;
}

/** DecideGate's input: the staged rollout, the plan's config and the hook it stopped at. */
export interface GateRequest {
  deployment: TargetDeployment;
  config: DeployConfig;
  gate: { hookId: string; lifecycleStage: string };
}

/** DescribeAlarms takes at most 100 alarm names per call (CloudWatch API reference, DescribeAlarms). */
const maxAlarmNames = 100;

/**
 * Decides one pause of a staged ECS deployment: runs the config's checks, answers
 * ContinueServiceDeployment CONTINUE or ROLLBACK, and returns the deployment with the decision
 * appended to its watch and the timer re-armed for the next step. Called from a Lambda, not from
 * Step Functions' SDK integration, which rejected `ecs:continueServiceDeployment` (issue 12,
 * "Reported pitfalls"). A hook that went stale (superseded, expired, already answered) is not an
 * error: ECS refuses the answer, the decision is kept with `sent: false`, and the next wait
 * re-reads the status.
 */
export async function decideGate(deps: GateDependencies, request: GateRequest): Promise<TargetDeployment> {
  const { deployment, config, gate } = request;
  const watch = deployment.watch;
  if (!watch || config.target.type !== 'ecs') {
    throw new InputInvalid('DecideGate needs an ECS blue/green, linear or canary deployment with a watch');
  }
  const gates: GatesConfig = config.gates ?? { alarms: [] };
  const failures = await failedChecks(deps, gates, {
    cluster: config.target.cluster,
    deploymentId: deployment.deploymentId,
    maxFailedTasks: config.health.maxFailedTasks,
  });
  const action = failures.length > 0 ? 'ROLLBACK' : 'CONTINUE';
  const sent = await answer(deps.ecs, watch.serviceDeploymentArn, gate.hookId, action);
  const decision: GateDecision = {
    hookId: gate.hookId,
    lifecycleStage: gate.lifecycleStage,
    action,
    reasons: failures.length > 0 ? failures : passedChecks(gates, config.health.maxFailedTasks),
    decidedAt: deps.now().toISOString(),
    sent,
  };
  return {
    ...deployment,
    watch: rearm(
      { ...watch, gates: [...watch.gates, decision] },
      gate.lifecycleStage,
      config.health.timeoutSeconds,
    ),
  };
}

/** Each check that fails, as one line a person reads in the record and in `gantry why`. */
async function failedChecks(
  deps: GateDependencies,
  gates: GatesConfig,
  where: { cluster: string; deploymentId: string; maxFailedTasks: number },
): Promise<string[]> {
  const [alarms, tasks, probe] = await Promise.all([
    alarmsFiring(deps.cloudwatch, gates.alarms),
    // Only the new revision's tasks (ListTasks startedBy its ECS deployment), and only failures:
    // old tasks the scheduler stops during clean-up are ServiceSchedulerInitiated (rollout.ts).
    stoppedTasksOf(deps.ecs, where.cluster, where.deploymentId).then((stopped) =>
      stopped.filter(isFailedTask),
    ),
    gates.probe ? probeFailure(deps.fetch, gates.probe) : Promise.resolve(undefined),
  ]);
  return [
    ...alarms.map((alarm) => `alarm ${alarm.name} is in ALARM${alarm.reason ? `: ${alarm.reason}` : ''}`),
    ...(tasks.length >= where.maxFailedTasks
      ? [`${tasks.length} task(s) of the new revision stopped (limit ${where.maxFailedTasks})`]
      : []),
    ...(probe ? [probe] : []),
  ];
}

function passedChecks(gates: GatesConfig, maxFailedTasks: number): string[] {
  return [
    ...(gates.alarms.length > 0 ? [`no alarm in ALARM (${gates.alarms.join(', ')})`] : []),
    `fewer than ${maxFailedTasks} task(s) of the new revision stopped`,
    ...(gates.probe ? [`${gates.probe.url} answered ${gates.probe.expectStatus}`] : []),
  ];
}

/** The configured alarms that are in ALARM now (CloudWatch DescribeAlarms, `StateValue`). */
export async function alarmsFiring(
  cloudwatch: CloudWatchClient,
  names: readonly string[],
): Promise<{ name: string; reason?: string }[]> {
  const firing: { name: string; reason?: string }[] = [];
  for (let start = 0; start < names.length; start += maxAlarmNames) {
    const AlarmNames = names.slice(start, start + maxAlarmNames);
    const { MetricAlarms = [], CompositeAlarms = [] } = await awsCall('describing the gate alarms', () =>
      cloudwatch.send(
        new DescribeAlarmsCommand({
          AlarmNames,
          AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
          StateValue: 'ALARM',
        }),
      ),
    );
    for (const alarm of [...MetricAlarms, ...CompositeAlarms]) {
      if (alarm.AlarmName && alarm.StateValue === 'ALARM') {
        firing.push({ name: alarm.AlarmName, ...(alarm.StateReason && { reason: alarm.StateReason }) });
      }
    }
  }
  return firing;
}

/** Why the probe failed, or undefined when it answered the expected status in time. */
async function probeFailure(
  fetchUrl: typeof fetch,
  probe: NonNullable<GatesConfig['probe']>,
): Promise<string | undefined> {
  try {
    const response = await fetchUrl(probe.url, {
      method: 'GET',
      redirect: 'manual',
      signal: AbortSignal.timeout(probe.timeoutMs),
    });
    await response.body?.cancel();
    return response.status === probe.expectStatus
      ? undefined
      : `${probe.url} answered ${response.status}, expected ${probe.expectStatus}`;
  } catch (error) {
    return `${probe.url} did not answer within ${probe.timeoutMs} ms: ${error instanceof Error ? error.name : 'error'}`;
  }
}

/**
 * ContinueServiceDeployment (ECS API model; "Continuing service deployments",
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/continue-service-deployment.html): the
 * hook must be AWAITING_ACTION and the deployment IN_PROGRESS. A stale hook or a deployment that
 * moved on is refused with InvalidParameterException or ServiceDeploymentNotFoundException (the
 * operation's client errors in the model): false, so the caller re-reads the status instead of
 * crashing.
 */
async function answer(
  ecs: ECSClient,
  serviceDeploymentArn: string,
  hookId: string,
  action: 'CONTINUE' | 'ROLLBACK',
): Promise<boolean> {
  try {
    await awsCall('answering the pause hook', () =>
      ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn, hookId, action })),
    );
    return true;
  } catch (error) {
    if (
      hasErrorName(error, 'InvalidParameterException') ||
      hasErrorName(error, 'ServiceDeploymentNotFoundException')
    ) {
      return false;
    }
    throw error;
  }
}
