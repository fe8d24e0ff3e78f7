import {
  type DeploymentConfiguration,
  DescribeServiceDeploymentsCommand,
  type ECSClient,
  type Service,
  type ServiceDeployment,
  StopServiceDeploymentCommand,
} from '@aws-sdk/client-ecs';
import type { EcsTarget, GatesConfig } from '../config/schema.ts';
import { awsCall, GateHooksMissing, hasErrorName, RolloutNeedsOperator } from '../errors.ts';
import { isFailedTask, type StoppedTask, stoppedTasksOf, withObserved } from './rollout.ts';
import { type ServiceDeploymentWatch, type StagedStrategy, watchSchema } from './watch.ts';

export type { GateDecision, ServiceDeploymentWatch, StagedStrategy } from './watch.ts';

/**
 * ECS blue/green, linear and canary deployments ("service deployments"): a strategy in the
 * service's `deploymentConfiguration`, a service deployment ARN named by UpdateService's
 * `service.currentServiceDeployment`, and a status read with DescribeServiceDeployments (ECS API
 * model in @aws-sdk/client-ecs: `DeploymentConfiguration.strategy`, `Service.currentServiceDeployment`,
 * `ServiceDeployment.status`; "View service history using Amazon ECS service deployments",
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html).
 * The status is the truth: events ("ECS Hook State Change", and "ECS Deployment State Change" when
 * ECS sends it) only wake Gantry up to read it. "Service stable" is not "deployment complete"
 * (aws-actions/amazon-ecs-deploy-task-definition#838).
 */

/** The strategies with service deployments; anything else (absent, ROLLING) keeps the rolling path. */
const staged = watchSchema.shape.strategy.options;

export function stagedStrategyOf(service: Service): StagedStrategy | undefined {
  const strategy = service.deploymentConfiguration?.strategy;
  return staged.find((candidate) => candidate === strategy);
}

/**
 * Traffic steps: ⌈100/stepPercent⌉ for linear (equal increments "until 100% of traffic is
 * shifted", the step bake "not applied after reaching 100 percent traffic": ECS API reference,
 * LinearConfiguration, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LinearConfiguration.html),
 * 2 for canary (the canary percent, then the rest: CanaryConfiguration in the same reference), 1
 * for blue/green; issue 12 and the sandbox's model (sandbox/emulator/README.md) count them alike.
 */
export function trafficSteps(
  strategy: StagedStrategy,
  configuration: DeploymentConfiguration | undefined,
): number {
  if (strategy === 'LINEAR') return Math.ceil(100 / (configuration?.linearConfiguration?.stepPercent ?? 10));
  return strategy === 'CANARY' ? 2 : 1;
}

/**
 * A new watch for the deployment UpdateService started. The first wait covers one step (or the
 * whole blue/green bake); each expiry re-reads the status and re-arms for the next step, at most
 * once per step plus two (scale-up and clean-up), so a stuck deployment ends as timed out long
 * before ECS's own 24-hour stage limit and never holds the app/environment's lock that long.
 */
export function watchFor(
  service: Service,
  strategy: StagedStrategy,
  serviceDeploymentArn: string,
  options: { gates: GatesConfig | undefined; healthSeconds: number },
): ServiceDeploymentWatch {
  const configuration = service.deploymentConfiguration;
  const minutes = (value: number | undefined) => Math.max(0, Math.round((value ?? 0) * 60));
  const stepBakeSeconds =
    strategy === 'LINEAR'
      ? minutes(configuration?.linearConfiguration?.stepBakeTimeInMinutes)
      : strategy === 'CANARY'
        ? minutes(configuration?.canaryConfiguration?.canaryBakeTimeInMinutes)
        : 0;
  const bakeSeconds = minutes(configuration?.bakeTimeInMinutes);
  const watch: ServiceDeploymentWatch = {
    serviceDeploymentArn,
    strategy,
    expect: 'SUCCESSFUL',
    gated: options.gates !== undefined,
    stepBakeSeconds,
    bakeSeconds,
    waitSeconds: 0,
    rechecksLeft: trafficSteps(strategy, configuration) + 2,
    gates: [],
  };
  return rearm(watch, undefined, options.healthSeconds);
}

/**
 * The next timer: the bake the deployment is in (or will reach next) plus the health budget for
 * scaling and traffic shifts. Step Functions takes a whole number of seconds, at least 1.
 */
export function rearm(
  watch: ServiceDeploymentWatch,
  lifecycleStage: string | undefined,
  healthSeconds: number,
): ServiceDeploymentWatch {
  const bake =
    lifecycleStage === 'BAKE_TIME' ||
    lifecycleStage === 'POST_PRODUCTION_TRAFFIC_SHIFT' ||
    watch.strategy === 'BLUE_GREEN'
      ? watch.bakeSeconds
      : watch.stepBakeSeconds;
  return { ...watch, waitSeconds: Math.max(1, Math.ceil(bake + healthSeconds)) };
}

export async function describeServiceDeployment(
  ecs: ECSClient,
  serviceDeploymentArn: string,
): Promise<ServiceDeployment> {
  const { serviceDeployments, failures } = await awsCall('describing the service deployment', () =>
    ecs.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [serviceDeploymentArn] })),
  );
  const found = serviceDeployments?.[0];
  if (!found) {
    throw new RolloutNeedsOperator(
      `ECS does not know service deployment ${serviceDeploymentArn}: ${failures?.[0]?.reason ?? 'not found'}`,
    );
  }
  return found;
}

/** What the parked wait and the judge need: where the service is and how to follow its deployment. */
export interface ServiceDeploymentWhere {
  cluster: string;
  /** The ECS deployment (`ecs-svc/…`) whose tasks are the new revision's: ListTasks `startedBy`. */
  deploymentId: string;
  maxFailedTasks: number;
  watch: ServiceDeploymentWatch;
}

export type ServiceDeploymentJudgement =
  | { outcome: 'completed'; deploymentId: string }
  | { outcome: 'pending'; lifecycleStage?: string }
  | { outcome: 'gate'; deploymentId: string; hookId: string; lifecycleStage: string }
  | {
      outcome: 'failed';
      error: 'RolloutFailed' | 'RolloutTimedOut' | 'RolloutNeedsOperator';
      message: string;
      deploymentId: string;
      serviceDeploymentArn: string;
      status: string;
      /** ECS already put the previous revision back: Gantry's Rollback only follows it. */
      ecsRolledBack: boolean;
      stoppedTasks: StoppedTask[];
    };

const inFlight = new Set(['PENDING', 'IN_PROGRESS']);
const rollingBack = new Set(['ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS']);

/**
 * Judges a service deployment from DescribeServiceDeployments. `observed` are stopped tasks an
 * event described (ListTasks may not list them yet).
 */
export async function judgeServiceDeployment(
  ecs: ECSClient,
  where: ServiceDeploymentWhere,
  options: { deadlinePassed: boolean; observed?: readonly StoppedTask[] },
): Promise<ServiceDeploymentJudgement> {
  const { watch } = where;
  const deployment = await describeServiceDeployment(ecs, watch.serviceDeploymentArn);
  const status = deployment.status ?? 'UNKNOWN';
  const failed = (
    error: 'RolloutFailed' | 'RolloutTimedOut' | 'RolloutNeedsOperator',
    message: string,
    stoppedTasks: StoppedTask[] = [],
  ) =>
    ({
      outcome: 'failed',
      error,
      message,
      deploymentId: where.deploymentId,
      serviceDeploymentArn: watch.serviceDeploymentArn,
      status,
      ecsRolledBack: rollingBack.has(status) || status === 'ROLLBACK_SUCCESSFUL',
      stoppedTasks,
    }) as const;
  if (status === watch.expect) return { outcome: 'completed', deploymentId: where.deploymentId };
  if (status === 'ROLLBACK_SUCCESSFUL') {
    return failed(
      'RolloutFailed',
      refusedByGate(watch) ??
        `ECS rolled the deployment back: ${deployment.rollback?.reason ?? deployment.statusReason ?? 'no reason given'}`,
    );
  }
  if (rollingBack.has(status) && watch.expect === 'SUCCESSFUL') {
    // ECS is already rolling back (a hook's ROLLBACK, Gantry's gate, a timeout): the forward
    // rollout failed now; the Rollback step follows ECS's rollback instead of starting one.
    return failed(
      'RolloutFailed',
      refusedByGate(watch) ??
        `ECS is rolling the deployment back: ${deployment.rollback?.reason ?? deployment.statusReason ?? 'no reason given'}`,
    );
  }
  if (status === 'ROLLBACK_FAILED' || status === 'STOPPED' || status === 'SUCCESSFUL') {
    // SUCCESSFUL here means Gantry asked for a rollback that ECS finished forward instead.
    return failed(
      'RolloutNeedsOperator',
      `service deployment ended ${status}${deployment.statusReason ? `: ${deployment.statusReason}` : ''}; a person must check what runs`,
    );
  }
  if (inFlight.has(status) && watch.expect === 'SUCCESSFUL') {
    const stopped = withObserved(
      options.observed ?? [],
      await stoppedTasksOf(ecs, where.cluster, where.deploymentId),
    );
    const failedTasks = stopped.filter(isFailedTask);
    if (failedTasks.length >= where.maxFailedTasks) {
      return failed(
        'RolloutFailed',
        `${failedTasks.length} task(s) of the new revision stopped (limit ${where.maxFailedTasks}) at ${deployment.lifecycleStage ?? 'an unknown stage'}`,
        failedTasks,
      );
    }
    const awaiting = watch.gated && status === 'IN_PROGRESS' ? awaitingPauseHook(deployment) : undefined;
    if (awaiting) {
      return {
        outcome: 'gate',
        deploymentId: where.deploymentId,
        hookId: awaiting,
        lifecycleStage: deployment.lifecycleStage ?? 'UNKNOWN',
      };
    }
  }
  if (options.deadlinePassed) {
    return failed(
      'RolloutTimedOut',
      `the service deployment is still ${status} at ${deployment.lifecycleStage ?? 'an unknown stage'} after its expected end`,
    );
  }
  return {
    outcome: 'pending',
    ...(deployment.lifecycleStage && { lifecycleStage: deployment.lifecycleStage }),
  };
}

/** Gantry's own ROLLBACK answer says why in its words; ECS's rollback reason only names the hook. */
function refusedByGate(watch: ServiceDeploymentWatch): string | undefined {
  const refused = watch.gates.findLast((decision) => decision.action === 'ROLLBACK');
  return (
    refused && `Gantry's gate at ${refused.lifecycleStage} answered ROLLBACK: ${refused.reasons.join('; ')}`
  );
}

/** The pause hook waiting for an answer, if one is ("Pause hooks for Amazon ECS service deployments"). */
function awaitingPauseHook(deployment: ServiceDeployment): string | undefined {
  return deployment.lifecycleHookDetails?.find(
    (hook) => hook.targetType === 'PAUSE' && hook.status === 'AWAITING_ACTION' && hook.hookId,
  )?.hookId;
}

/**
 * Rolls an unfinished service deployment back in place: StopServiceDeployment with `stopType`
 * ROLLBACK. During bake the old revision still runs, so this is near instant ("Stopping Amazon ECS
 * service deployments", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html).
 * Returns the status the deployment had; a deployment already rolling back is left as it is.
 */
export async function stopWithRollback(ecs: ECSClient, serviceDeploymentArn: string): Promise<string> {
  const deployment = await describeServiceDeployment(ecs, serviceDeploymentArn);
  const status = deployment.status ?? 'UNKNOWN';
  if (!inFlight.has(status)) return status;
  try {
    await awsCall('stopping the service deployment', () =>
      ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn, stopType: 'ROLLBACK' })),
    );
  } catch (error) {
    // It finished or began rolling back between our read and the stop: the caller re-reads.
    if (!hasErrorName(error, 'ConflictException') && !hasErrorName(error, 'InvalidParameterException'))
      throw error;
  }
  return status;
}

/** The stages Gantry decides: after test traffic, before each production step, after production traffic. */
export const gateStages = [
  'POST_TEST_TRAFFIC_SHIFT',
  'PRE_PRODUCTION_TRAFFIC_SHIFT',
  'POST_PRODUCTION_TRAFFIC_SHIFT',
] as const;

/**
 * With `gates` in the config, the service must run a staged strategy and carry PAUSE hooks at
 * {@link gateStages} (they belong to the service's infrastructure code, README "Gates"). Pause hooks
 * are not allowed at the two traffic-shift stages themselves, which re-run during a rollback
 * ("Pause hooks for Amazon ECS service deployments",
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/pause-lifecycle-hooks.html).
 */
export function requireGateHooks(service: Service, target: EcsTarget): void {
  const name = `${target.cluster}/${target.service}`;
  const strategy = stagedStrategyOf(service);
  if (!strategy) {
    throw new GateHooksMissing(
      `ECS service ${name} uses the ${service.deploymentConfiguration?.strategy ?? 'ROLLING'} strategy: gates need BLUE_GREEN, LINEAR or CANARY with PAUSE hooks at ${gateStages.join(', ')}`,
    );
  }
  const paused = new Set(
    (service.deploymentConfiguration?.lifecycleHooks ?? [])
      .filter((hook) => hook.targetType === 'PAUSE')
      .flatMap((hook) => (hook.lifecycleStages ?? []) as string[]),
  );
  const missing = gateStages.filter((stage) => !paused.has(stage));
  if (missing.length > 0) {
    throw new GateHooksMissing(
      `ECS service ${name} has no PAUSE lifecycle hook at ${missing.join(', ')}: add them to the service's deploymentConfiguration.lifecycleHooks (README, "Gates") or remove gates from the config`,
    );
  }
}
