import { randomBytes } from 'node:crypto';
import type { SimClock } from '../clock.ts';
import type { EventHub } from '../events.ts';
import { AwsError, type Json, type JsonObject, UnsupportedParameter } from '../protocol.ts';
import type {
  Cluster,
  Deployment,
  EcsModel,
  HookRun,
  Service,
  ServiceDeploymentRecord,
  ServiceDeploymentStatus,
  ServiceRevision,
} from './model.ts';
import { iso } from './render.ts';
import type { RolloutSimulator } from './rollout.ts';
import {
  type LifecycleHookConfig,
  type StrategyConfig,
  stepBakeMinutes,
  trafficSteps,
} from './strategy-config.ts';

/**
 * Blue/green, linear and canary service deployments played out on the simulated clock.
 *
 * Built from AWS's documentation, never compared with a real ECS (there is none here):
 * - stage order and what each stage means: "Amazon ECS blue/green service deployments workflow"
 *   (developer guide, blue-green-deployment-how-it-works), the ServiceDeployment.lifecycleStage
 *   documentation in the ECS API model (`@aws-sdk/client-ecs` 3.1164, models_0.d.ts);
 * - "Each lifecycle stage can last up to 24 hours … The system times out, fails the deployment, and
 *   then initiates a rollback" and "For pause hooks, you can configure the timeout up to 20,160
 *   minutes (14 days)" (same page);
 * - pause hooks, hookIds, their expiry and timeout action, one hookId per linear/canary step at
 *   PRE_PRODUCTION_TRAFFIC_SHIFT, "the deployment stays paused until all hooks at that stage are
 *   continued. If any hook triggers a rollback, the entire deployment rolls back" ("Pause hooks for
 *   Amazon ECS service deployments");
 * - "When a roll back happens, Amazon ECS runs the lifecycle hooks for the following lifecycle
 *   stages: PRODUCTION_TRAFFIC_SHIFT, TEST_TRAFFIC_SHIFT", Lambda hooks answering SUCCEEDED, FAILED
 *   or IN_PROGRESS (called again after `callBackDelay`, default 30 s), "If a hookStatus is not
 *   returned, or if the function fails, the deployment rolls back" ("Lifecycle hooks for Amazon ECS
 *   service deployments");
 * - the service deployment statuses and which StopServiceDeployment accepts ("View service history
 *   using Amazon ECS service deployments", "Stopping Amazon ECS service deployments");
 * - ContinueServiceDeployment only for a pause hook AWAITING_ACTION of an IN_PROGRESS deployment
 *   ("Continuing service deployments");
 * - the "ECS Hook State Change" event: "Amazon ECS service deployment hook state change events"
 *   (developer guide, ecs_hook_state_change_events) and the sample on the pause hooks page, which
 *   has no `resources` (EventBridge then delivers `resources: []`).
 * What the documentation leaves open is chosen here and listed in the emulator README ("ECS
 * deployment strategies"): 1 simulated second per automatic stage, the error names of state
 * conflicts, STOPPED for a superseded deployment, ROLLBACK_FAILED for a first deployment.
 */

/** How long an automatic stage (no hook, nothing to wait for) lasts: not documented, 1 s here. */
export const STAGE_MS = 1000;
/** "Each lifecycle stage can last up to 24 hours" (blue/green workflow page). */
export const STAGE_TIMEOUT_MS = 24 * 3_600_000;
/** Lambda hook answering IN_PROGRESS: "By default this is a 30 second interval". */
const DEFAULT_CALLBACK_DELAY_MS = 30_000;

/** What a Lambda lifecycle hook returns (`hookStatus`, optional `callBackDelay` in seconds). */
export interface LambdaHookResult {
  readonly hookStatus?: string;
  readonly callBackDelay?: number;
}
/**
 * Stands in for the Lambda function of an AWS_LAMBDA hook: called with the lifecycle payload,
 * synchronously on the simulated clock (so the 15-minute limit cannot be exceeded); a throw is a
 * failed invocation.
 */
export type LambdaHookHandler = (payload: JsonObject) => LambdaHookResult;

type StepKind = 'hooks' | 'scaleUp' | 'bake' | 'cleanUp';

interface Step {
  readonly stage: string;
  readonly kind: StepKind;
  /** Production traffic on the target revision once this step starts (traffic shift steps). */
  readonly productionWeight?: number;
  readonly testWeight?: number;
  /** Wait after the stage's hooks (step bake of a traffic shift, or BAKE_TIME). */
  readonly waitMs?: number;
}

/** The live state of one service deployment besides its rendered record. */
interface Run {
  readonly record: ServiceDeploymentRecord;
  readonly steps: readonly Step[];
  index: number;
  /** The hook runs of the stage under way (one traffic step at a time). */
  stageHooks: HookRun[];
  /** Timers of the stage under way (stage timeout, hook expiry, Lambda callbacks, the next step). */
  stageTimers: (() => void)[];
  scaleUpStartedAt: number | undefined;
  rollingBack: boolean;
}

const TERMINAL: readonly ServiceDeploymentStatus[] = [
  'SUCCESSFUL',
  'STOPPED',
  'ROLLBACK_SUCCESSFUL',
  'ROLLBACK_FAILED',
];

export class ServiceDeploymentSimulator {
  readonly #model: EcsModel;
  readonly #rollouts: RolloutSimulator;
  readonly #hub: EventHub;
  readonly #clock: SimClock;
  readonly #runs = new Map<string, Run>();
  readonly #lambdaHooks = new Map<string, LambdaHookHandler>();
  /** Whether "ECS Deployment State Change" events are emitted for these strategies (see EcsState). */
  deploymentEvents = true;
  /** Whether "ECS Hook State Change" events name the service deployment in `resources`. */
  hookEventResources = false;

  constructor(model: EcsModel, rollouts: RolloutSimulator, hub: EventHub) {
    this.#model = model;
    this.#rollouts = rollouts;
    this.#hub = hub;
    this.#clock = model.clock;
    rollouts.onTaskRunning = (deployment) => this.#taskRunning(deployment);
  }

  setLambdaHook(functionArn: string, handler: LambdaHookHandler): void {
    this.#lambdaHooks.set(functionArn, handler);
  }

  /** Refuses AWS_LAMBDA hooks the emulator could not run: it invokes no real Lambda function. */
  checkRunnable(config: StrategyConfig): void {
    for (const hook of config.lifecycleHooks) {
      if (hook.targetType === 'AWS_LAMBDA' && !this.#lambdaHooks.has(hook.hookTargetArn ?? '')) {
        throw new UnsupportedParameter(
          `lifecycleHooks: the Gantry sandbox invokes no Lambda function; register a stand-in for ${hook.hookTargetArn} with ecs.setLambdaHook first`,
        );
      }
    }
  }

  find(arn: string): ServiceDeploymentRecord | undefined {
    return this.#runs.get(arn)?.record;
  }

  /** UpdateService (or a first deployment) of a blue/green, linear or canary service. */
  start(cluster: Cluster, service: Service, taskDefinitionArn: string): ServiceDeploymentRecord {
    const now = this.#clock.now();
    const arn = `arn:aws:ecs:${this.#model.region}:${this.#model.account}:service-deployment/${cluster.name}/${service.name}/${randomBytes(16).toString('base64url').slice(0, 21)}`;
    const superseded = this.#supersede(service, arn);
    const production = this.#productionRevision(cluster, service);
    const sources: ServiceRevision[] = production === undefined ? [] : [production];
    for (const old of superseded) {
      if (old.target.arn !== production?.arn && this.#hasLiveTasks(cluster, old.deployment))
        sources.push(old.target);
    }
    for (const previous of service.deployments) {
      previous.status = 'ACTIVE';
      for (const cancel of previous.timers.splice(0)) cancel();
    }
    const deployment = this.#rollouts.newDeployment(service, taskDefinitionArn, '');
    deployment.serviceDeploymentArn = arn;
    deployment.rolloutStateReason = `ECS deployment ${deployment.id} in progress.`;
    // Superseded revisions without tasks have nothing left to reconcile.
    service.deployments = [
      deployment,
      ...service.deployments.filter(
        (d) => d.id === production?.deploymentId || this.#hasLiveTasks(cluster, d),
      ),
    ];
    service.taskDefinitionArn = taskDefinitionArn;
    const config = service.deploymentConfiguration;
    const record: ServiceDeploymentRecord = {
      arn,
      service,
      cluster,
      config,
      createdAt: now,
      startedAt: undefined,
      finishedAt: undefined,
      stoppedAt: undefined,
      updatedAt: now,
      status: 'PENDING',
      statusReason: 'Service deployment created.',
      lifecycleStage: '',
      sources,
      target: {
        arn: this.#model.newRevisionArn(cluster, service),
        taskDefinitionArn,
        deploymentId: deployment.id,
      },
      deployment,
      productionWeight: 0,
      testWeight: 0,
      hooks: [],
      rollback: undefined,
      history: [],
      timers: [],
    };
    service.serviceDeployments.push(record);
    const run: Run = {
      record,
      // RECONCILE_SERVICE when a revision besides production's and the new one is active (superseded).
      steps: plan(
        config,
        service.deployments.some((d) => d !== deployment && d.id !== production?.deploymentId),
      ),
      index: -1,
      stageHooks: [],
      stageTimers: [],
      scaleUpStartedAt: undefined,
      rollingBack: false,
    };
    this.#runs.set(arn, run);
    this.#note(record);
    this.#deploymentEvent(record, 'INFO', 'SERVICE_DEPLOYMENT_IN_PROGRESS');
    // "Service deployments start in PENDING" (service-deployment page); the work starts a stage later.
    record.timers.push(
      this.#clock.schedule(STAGE_MS, () => {
        record.status = 'IN_PROGRESS';
        record.startedAt = this.#clock.now();
        record.statusReason = 'Service deployment in progress.';
        this.#enter(run, 0);
      }),
    );
    return record;
  }

  /**
   * ContinueServiceDeployment. Its documented rules: the hook must be a pause hook AWAITING_ACTION
   * and the deployment IN_PROGRESS. The error names for breaking them are not documented; the
   * emulator answers InvalidParameterException (the operation's errors in the API model are
   * ClientException, InvalidParameterException, ServiceDeploymentNotFoundException, …).
   */
  continueDeployment(arn: string, hookId: string, action: string): string {
    const run = this.#run(arn);
    const record = run.record;
    const hook = record.hooks.find((h) => h.hookId === hookId);
    if (hook === undefined) {
      throw new AwsError(
        'InvalidParameterException',
        `hookId ${hookId} is not a lifecycle hook of service deployment ${arn}`,
      );
    }
    if (record.status !== 'IN_PROGRESS') {
      throw new AwsError(
        'InvalidParameterException',
        `The service deployment is ${record.status}; only an IN_PROGRESS service deployment can be continued.`,
      );
    }
    if (hook.targetType !== 'PAUSE') {
      throw new AwsError(
        'InvalidParameterException',
        `hook ${hookId} is an ${hook.targetType} hook, not a PAUSE hook`,
      );
    }
    if (hook.status !== 'AWAITING_ACTION' || !run.stageHooks.includes(hook)) {
      throw new AwsError(
        'InvalidParameterException',
        `hook ${hookId} is ${hook.status}, not AWAITING_ACTION`,
      );
    }
    if (action === 'ROLLBACK') {
      this.#hookDone(run, hook, 'FAILED');
      this.#rollback(
        run,
        `Lifecycle hook ${hookId} at ${hook.lifecycleStage}: ContinueServiceDeployment ROLLBACK.`,
      );
    } else {
      this.#hookDone(run, hook, 'SUCCEEDED');
      this.#stageMaybeDone(run);
    }
    return arn;
  }

  /**
   * StopServiceDeployment with stopType ROLLBACK: PENDING and IN_PROGRESS move to ROLLBACK_REQUESTED;
   * STOP_REQUESTED, ROLLBACK_REQUESTED and ROLLBACK_IN_PROGRESS carry on ("Stopping Amazon ECS service
   * deployments"). A finished deployment cannot be stopped: ConflictException ("conflict in the
   * current state of the resource", one of the operation's errors in the API model).
   */
  stopDeployment(arn: string, stopType: string): string {
    const run = this.#run(arn);
    if (stopType !== 'ROLLBACK') {
      throw new UnsupportedParameter(
        `StopServiceDeployment: stopType '${stopType}' is not emulated (ROLLBACK only)`,
      );
    }
    const { status } = run.record;
    if (TERMINAL.includes(status)) {
      throw new AwsError(
        'ConflictException',
        `The service deployment is ${status} and can no longer be stopped.`,
      );
    }
    if (status === 'PENDING' || status === 'IN_PROGRESS') {
      this.#rollback(run, 'StopServiceDeployment: rollback requested.');
    }
    return arn;
  }

  // --- stages -------------------------------------------------------------------------------------

  #enter(run: Run, index: number): void {
    this.#clearStage(run);
    run.index = index;
    const step = run.steps[index];
    const record = run.record;
    if (step === undefined) return;
    record.lifecycleStage = step.stage;
    if (step.productionWeight !== undefined) record.productionWeight = step.productionWeight;
    if (step.testWeight !== undefined) record.testWeight = step.testWeight;
    this.#note(record);
    if (record.deployment.scenario.crashFromStage === step.stage) {
      this.#rollouts.startCrashing(record.cluster, record.service, record.deployment);
    }
    if (step.stage === 'RECONCILE_SERVICE') this.#reconcile(record);
    if (step.kind === 'cleanUp') {
      this.#succeed(run);
      return;
    }
    const hooks = this.#hooksAt(record.config, step.stage);
    // A pause hook sets its own timeout (up to 14 days); any other stage fails after 24 h.
    if (!hooks.some((h) => h.targetType === 'PAUSE')) {
      run.stageTimers.push(
        this.#clock.schedule(STAGE_TIMEOUT_MS, () =>
          this.#rollback(run, `Lifecycle stage ${step.stage} exceeded 24 hours.`),
        ),
      );
    }
    if (step.kind === 'scaleUp') {
      run.scaleUpStartedAt = this.#clock.now();
      const { cluster, service, deployment } = record;
      const started: string[] = [];
      for (let i = 0; i < deployment.desiredCount; i++) {
        started.push(this.#rollouts.launch(cluster, service, deployment).arn);
      }
      this.#rollouts.serviceEvent(service, `(service ${service.name}) has started ${started.length} tasks.`);
      run.stageTimers.push(
        this.#clock.schedule(deployment.scenario.stableAfterMs, () => this.#stageMaybeDone(run)),
      );
      return;
    }
    for (const hook of hooks) {
      // A Lambda hook failing at once rolls back: the other hooks of the stage do not start.
      if (run.rollingBack) return;
      this.#startHook(run, hook, step.stage);
    }
    this.#stageMaybeDone(run);
  }

  #taskRunning(deployment: Deployment): void {
    const arn = deployment.serviceDeploymentArn;
    const run = arn === undefined ? undefined : this.#runs.get(arn);
    if (run !== undefined && run.steps[run.index]?.kind === 'scaleUp') this.#stageMaybeDone(run);
  }

  /** Moves on once the stage's work is done and every hook at it succeeded (or timed out with CONTINUE). */
  #stageMaybeDone(run: Run): void {
    const record = run.record;
    if (run.rollingBack || record.status !== 'IN_PROGRESS') return;
    const step = run.steps[run.index];
    if (step === undefined) return;
    if (step.kind === 'scaleUp' && !this.#scaledUp(run)) return;
    const open = run.stageHooks.some((h) => h.status !== 'SUCCEEDED' && h.status !== 'TIMED_OUT');
    if (open) return;
    const index = run.index;
    const wait = STAGE_MS + (step.waitMs ?? 0);
    // Only one timer moves the deployment on, however many hooks finish at the same time.
    this.#clearStage(run);
    run.stageTimers.push(
      this.#clock.schedule(wait, () => {
        if (run.index === index && record.status === 'IN_PROGRESS') this.#enter(run, index + 1);
      }),
    );
  }

  /** SCALE_UP ends when every task of the target revision runs and the scenario's stable time passed. */
  #scaledUp(run: Run): boolean {
    const { deployment, cluster } = run.record;
    const scenario = deployment.scenario;
    if (scenario.kind === 'crashLoop' || scenario.kind === 'neverStable') return false;
    if (this.#clock.now() - (run.scaleUpStartedAt ?? 0) < scenario.stableAfterMs) return false;
    let running = 0;
    for (const task of cluster.tasks.values()) {
      if (task.deploymentId === deployment.id && task.lastStatus === 'RUNNING') running += 1;
    }
    return running >= deployment.desiredCount;
  }

  /** RECONCILE_SERVICE: the revisions of superseded deployments scale down; production keeps running. */
  #reconcile(record: ServiceDeploymentRecord): void {
    const production = record.service.productionRevision?.deploymentId;
    for (const old of record.service.deployments) {
      if (old === record.deployment || old.id === production) continue;
      this.#rollouts.scaleDown(record.cluster, old, record.deployment);
    }
    record.service.deployments = record.service.deployments.filter(
      (d) => d === record.deployment || d.id === production,
    );
  }

  #succeed(run: Run): void {
    const { record } = run;
    const { cluster, service, deployment } = record;
    const now = this.#clock.now();
    for (const old of service.deployments) {
      if (old === deployment) continue;
      for (const cancel of old.timers.splice(0)) cancel();
      this.#rollouts.scaleDown(cluster, old, deployment);
    }
    service.deployments = [deployment];
    service.productionRevision = record.target;
    deployment.rolloutState = 'COMPLETED';
    deployment.rolloutStateReason = `ECS deployment ${deployment.id} completed.`;
    deployment.updatedAt = now;
    this.#finish(record, 'SUCCESSFUL', 'Service deployment completed successfully.');
    this.#deploymentEvent(record, 'INFO', 'SERVICE_DEPLOYMENT_COMPLETED');
    this.#rollouts.serviceEvent(
      service,
      `(service ${service.name}) (deployment ${deployment.id}) deployment completed.`,
    );
    this.#rollouts.serviceEvent(service, `(service ${service.name}) has reached a steady state.`);
  }

  // --- hooks --------------------------------------------------------------------------------------

  #hooksAt(config: StrategyConfig, stage: string): LifecycleHookConfig[] {
    return config.lifecycleHooks.filter((h) => h.lifecycleStages.includes(stage));
  }

  #startHook(run: Run, config: LifecycleHookConfig, stage: string): void {
    const now = this.#clock.now();
    const pause = config.targetType === 'PAUSE';
    const hook: HookRun = {
      // The documented pause hookId is `ecs-pause-` and 43 URL-safe characters; Lambda hook ids are
      // not shown in the documentation, `ecs-lambda-…` is the emulator's.
      hookId: `${pause ? 'ecs-pause-' : 'ecs-lambda-'}${randomBytes(32).toString('base64url')}`,
      targetType: config.targetType,
      targetArn: config.hookTargetArn,
      lifecycleStage: stage,
      status: pause ? 'AWAITING_ACTION' : 'IN_PROGRESS',
      expiresAt: now + config.timeoutInMinutes * 60_000,
      timeoutAction: config.timeoutAction,
    };
    run.record.hooks.push(hook);
    run.stageHooks.push(hook);
    this.#hookEvent(run.record, hook, pause ? 'HOOK_AWAITING_ACTION' : 'HOOK_IN_PROGRESS');
    if (pause) {
      run.stageTimers.push(this.#clock.schedule(hook.expiresAt - now, () => this.#hookTimedOut(run, hook)));
      return;
    }
    this.#invokeLambda(run, hook, config);
  }

  #hookTimedOut(run: Run, hook: HookRun): void {
    if (hook.status !== 'AWAITING_ACTION' || run.record.status !== 'IN_PROGRESS') return;
    this.#hookDone(run, hook, 'TIMED_OUT');
    if (hook.timeoutAction === 'ROLLBACK') {
      this.#rollback(run, `Lifecycle hook ${hook.hookId} at ${hook.lifecycleStage} timed out.`);
    } else {
      this.#stageMaybeDone(run);
    }
  }

  #hookDone(run: Run, hook: HookRun, status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT'): void {
    hook.status = status;
    run.record.updatedAt = this.#clock.now();
    this.#hookEvent(run.record, hook, `HOOK_${status}`);
  }

  /** Runs a Lambda hook's stand-in; during a rollback its failure fails the rollback. */
  #invokeLambda(run: Run, hook: HookRun, config: LifecycleHookConfig): void {
    const handler = this.#lambdaHooks.get(config.hookTargetArn ?? '');
    let result: LambdaHookResult | undefined;
    try {
      result = handler?.(this.#lambdaPayload(run.record, config));
    } catch {
      result = undefined;
    }
    const status = result?.hookStatus;
    if (status === 'IN_PROGRESS') {
      const delay =
        typeof result?.callBackDelay === 'number' ? result.callBackDelay * 1000 : DEFAULT_CALLBACK_DELAY_MS;
      run.stageTimers.push(this.#clock.schedule(delay, () => this.#invokeLambda(run, hook, config)));
      return;
    }
    if (status === 'SUCCEEDED') {
      this.#hookDone(run, hook, 'SUCCEEDED');
      if (run.rollingBack) this.#rollbackStageMaybeDone(run);
      else this.#stageMaybeDone(run);
      return;
    }
    this.#hookDone(run, hook, 'FAILED');
    const reason = `Lifecycle hook ${hook.hookId} (${config.hookTargetArn}) at ${hook.lifecycleStage} failed.`;
    if (run.rollingBack) this.#finish(run.record, 'ROLLBACK_FAILED', reason);
    else this.#rollback(run, reason);
  }

  /** The payload documented per stage: service, target revision, test and production weights. */
  #lambdaPayload(record: ServiceDeploymentRecord, config: LifecycleHookConfig): JsonObject {
    const weights = (targetWeight: number): JsonObject => {
      const out: JsonObject = { [record.target.arn]: targetWeight };
      const source = record.sources[0];
      if (source !== undefined) out[source.arn] = 100 - targetWeight;
      return out;
    };
    const stage = record.lifecycleStage;
    const payload: JsonObject = {
      serviceArn: record.service.arn,
      targetServiceRevisionArn: record.target.arn,
      testTrafficWeights:
        stage === 'TEST_TRAFFIC_SHIFT' || stage === 'RECONCILE_SERVICE' ? weights(record.testWeight) : {},
      productionTrafficWeights:
        stage === 'PRODUCTION_TRAFFIC_SHIFT' || stage === 'RECONCILE_SERVICE'
          ? weights(record.productionWeight)
          : {},
    };
    // Where ECS puts `hookDetails` in the payload is not documented: under its own name here.
    if (config.hookDetails !== undefined) payload.hookDetails = config.hookDetails as Json;
    return payload;
  }

  // --- rollback, supersession, end ----------------------------------------------------------------

  /**
   * Rolls back: ROLLBACK_REQUESTED, then ROLLBACK_IN_PROGRESS re-running PRODUCTION_TRAFFIC_SHIFT and
   * TEST_TRAFFIC_SHIFT (with their Lambda hooks) to put all traffic back on the production revision,
   * which kept running (bake time keeps it, so a rollback during bake is immediate); then the target
   * revision's tasks stop. Without a production revision (a first deployment) it ends ROLLBACK_FAILED.
   */
  #rollback(run: Run, reason: string): void {
    const record = run.record;
    if (run.rollingBack || TERMINAL.includes(record.status)) return;
    run.rollingBack = true;
    this.#clearStage(run);
    for (const cancel of record.timers.splice(0)) cancel();
    const now = this.#clock.now();
    const production = record.service.productionRevision;
    record.status = 'ROLLBACK_REQUESTED';
    record.statusReason = reason;
    record.updatedAt = now;
    if (production !== undefined) {
      record.rollback = { reason, startedAt: now, serviceRevisionArn: production.arn };
    }
    this.#note(record);
    record.deployment.rolloutState = 'FAILED';
    record.deployment.rolloutStateReason = reason;
    record.deployment.updatedAt = now;
    this.#deploymentEvent(record, 'ERROR', 'SERVICE_DEPLOYMENT_FAILED');
    record.timers.push(
      this.#clock.schedule(STAGE_MS, () => {
        record.status = 'ROLLBACK_IN_PROGRESS';
        if (production === undefined) {
          // Reported for ECS-native deployments (the project's issue 12; not in AWS's documentation):
          // a service's first deployment has no revision to roll back to.
          this.#finish(record, 'ROLLBACK_FAILED', `${reason} No previous service revision to roll back to.`);
          return;
        }
        this.#rollbackStage(run, 0);
      }),
    );
  }

  #rollbackStage(run: Run, index: number): void {
    const record = run.record;
    this.#clearStage(run);
    const stage = ROLLBACK_STAGES[index];
    if (stage === undefined) {
      this.#rolledBack(run);
      return;
    }
    run.index = index;
    record.lifecycleStage = stage;
    if (stage === 'PRODUCTION_TRAFFIC_SHIFT') record.productionWeight = 0;
    else record.testWeight = 0;
    this.#note(record);
    run.stageTimers.push(
      this.#clock.schedule(STAGE_TIMEOUT_MS, () =>
        this.#finish(record, 'ROLLBACK_FAILED', `Rollback stage ${stage} exceeded 24 hours.`),
      ),
    );
    for (const hook of this.#hooksAt(record.config, stage)) this.#startHook(run, hook, stage);
    this.#rollbackStageMaybeDone(run);
  }

  #rollbackStageMaybeDone(run: Run): void {
    if (run.record.status !== 'ROLLBACK_IN_PROGRESS') return;
    if (run.stageHooks.some((h) => h.status !== 'SUCCEEDED')) return;
    const index = run.index;
    this.#clearStage(run);
    run.stageTimers.push(this.#clock.schedule(STAGE_MS, () => this.#rollbackStage(run, index + 1)));
  }

  #rolledBack(run: Run): void {
    const { record } = run;
    const { cluster, service, deployment } = record;
    const production = service.productionRevision;
    const back = service.deployments.find((d) => d.id === production?.deploymentId);
    for (const cancel of deployment.timers.splice(0)) cancel();
    if (back !== undefined) {
      this.#rollouts.scaleDown(cluster, deployment, back);
      back.status = 'PRIMARY';
      service.deployments = service.deployments.filter((d) => d !== deployment);
      service.deployments.sort((a, b) => (a === back ? -1 : b === back ? 1 : 0));
    }
    if (production !== undefined) service.taskDefinitionArn = production.taskDefinitionArn;
    this.#finish(record, 'ROLLBACK_SUCCESSFUL', `${record.statusReason} Rolled back to ${production?.arn}.`);
    this.#rollouts.serviceEvent(
      service,
      `(service ${service.name}) (deployment ${deployment.id}) rolled back to the previous service revision.`,
    );
  }

  /**
   * A new UpdateService during a deployment is accepted (issue 12: "An UpdateService during a
   * deployment is accepted and invalidates its hookIds"). The superseded deployment ends STOPPED
   * (the emulator's choice: AWS documents no status for it) and its tasks are left to the new
   * deployment's RECONCILE_SERVICE stage.
   */
  #supersede(service: Service, by: string): ServiceDeploymentRecord[] {
    const superseded: ServiceDeploymentRecord[] = [];
    for (const record of service.serviceDeployments) {
      if (TERMINAL.includes(record.status)) continue;
      const run = this.#runs.get(record.arn);
      if (run !== undefined) this.#clearStage(run);
      for (const cancel of record.timers.splice(0)) cancel();
      this.#finish(record, 'STOPPED', `Service deployment superseded by ${by}.`);
      superseded.push(record);
    }
    return superseded;
  }

  #finish(record: ServiceDeploymentRecord, status: ServiceDeploymentStatus, reason: string): void {
    const run = this.#runs.get(record.arn);
    if (run !== undefined) this.#clearStage(run);
    const now = this.#clock.now();
    record.status = status;
    record.statusReason = reason;
    record.updatedAt = now;
    record.finishedAt = now;
    if (status === 'STOPPED') record.stoppedAt = now;
    this.#note(record);
  }

  /** Ends the stage under way: its timers stop and its hooks can no longer be acted on. */
  #clearStage(run: Run): void {
    for (const cancel of run.stageTimers.splice(0)) cancel();
    run.stageHooks = [];
  }

  #run(arn: string): Run {
    const run = this.#runs.get(arn);
    if (run === undefined) {
      throw new AwsError(
        'ServiceDeploymentNotFoundException',
        `The service deployment ${arn} does not exist.`,
      );
    }
    return run;
  }

  /**
   * The revision serving production. A service that used the rolling update until now has moved on
   * from its seeded revision: its COMPLETED deployment is what serves.
   */
  #productionRevision(cluster: Cluster, service: Service): ServiceRevision | undefined {
    const known = service.productionRevision;
    if (known !== undefined && service.deployments.some((d) => d.id === known.deploymentId)) return known;
    const completed = service.deployments.find((d) => d.rolloutState === 'COMPLETED');
    service.productionRevision =
      completed === undefined
        ? undefined
        : {
            arn: this.#model.newRevisionArn(cluster, service),
            taskDefinitionArn: completed.taskDefinitionArn,
            deploymentId: completed.id,
          };
    return service.productionRevision;
  }

  #hasLiveTasks(cluster: Cluster, deployment: Deployment): boolean {
    for (const task of cluster.tasks.values()) {
      if (task.deploymentId === deployment.id && task.lastStatus !== 'STOPPED') return true;
    }
    return false;
  }

  #note(record: ServiceDeploymentRecord): void {
    record.updatedAt = this.#clock.now();
    record.history.push({
      at: record.updatedAt,
      status: record.status,
      lifecycleStage: record.lifecycleStage,
      productionWeight: record.productionWeight,
    });
  }

  // --- events -------------------------------------------------------------------------------------

  #hookEvent(record: ServiceDeploymentRecord, hook: HookRun, eventName: string): void {
    const detail: JsonObject = {
      // The documented sample shows INFO for HOOK_AWAITING_ACTION; ERROR for a failed or timed-out
      // hook is the emulator's choice, as ECS deployment events use INFO and ERROR.
      eventType: eventName === 'HOOK_FAILED' || eventName === 'HOOK_TIMED_OUT' ? 'ERROR' : 'INFO',
      eventName,
      hookId: hook.hookId,
      hookType: hook.targetType,
      lifecycleStage: hook.lifecycleStage,
      clusterArn: record.cluster.arn,
      serviceArn: record.service.arn,
      serviceDeploymentArn: record.arn,
      updatedAt: iso(this.#clock.now()),
    };
    if (hook.targetType === 'PAUSE') detail.expiresAt = isoSeconds(hook.expiresAt);
    this.#hub.emit({
      source: 'aws.ecs',
      detailType: 'ECS Hook State Change',
      resources: this.hookEventResources ? [record.arn] : [],
      detail,
    });
  }

  #deploymentEvent(record: ServiceDeploymentRecord, type: 'INFO' | 'ERROR', name: string): void {
    if (!this.deploymentEvents) return;
    this.#rollouts.emitDeployment(record.service, record.deployment, type, name);
  }
}

/** The rollback re-runs the traffic shift stages, production first (lifecycle hooks page). */
const ROLLBACK_STAGES = ['PRODUCTION_TRAFFIC_SHIFT', 'TEST_TRAFFIC_SHIFT'] as const;

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * The stages of one deployment, in the documented order. RECONCILE_SERVICE "only happens when you
 * start a new service deployment with more than 1 service revision in an ACTIVE state".
 * PRE_PRODUCTION_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT repeat for every traffic step; the step
 * bake is spent in PRODUCTION_TRAFFIC_SHIFT (the documentation names no stage for it), the final
 * bake in BAKE_TIME, during which the old revision keeps running.
 */
function plan(config: StrategyConfig, reconcile: boolean): Step[] {
  const steps: Step[] = [];
  if (reconcile) steps.push({ stage: 'RECONCILE_SERVICE', kind: 'hooks' });
  steps.push(
    { stage: 'PRE_SCALE_UP', kind: 'hooks' },
    { stage: 'SCALE_UP', kind: 'scaleUp' },
    { stage: 'POST_SCALE_UP', kind: 'hooks' },
    { stage: 'TEST_TRAFFIC_SHIFT', kind: 'hooks', testWeight: 100 },
    { stage: 'POST_TEST_TRAFFIC_SHIFT', kind: 'hooks' },
  );
  const weights = trafficSteps(config);
  const stepBakeMs = stepBakeMinutes(config) * 60_000;
  weights.forEach((weight, i) => {
    steps.push(
      { stage: 'PRE_PRODUCTION_TRAFFIC_SHIFT', kind: 'hooks' },
      {
        stage: 'PRODUCTION_TRAFFIC_SHIFT',
        kind: 'hooks',
        productionWeight: weight,
        ...(i < weights.length - 1 ? { waitMs: stepBakeMs } : {}),
      },
    );
  });
  steps.push(
    { stage: 'POST_PRODUCTION_TRAFFIC_SHIFT', kind: 'hooks' },
    { stage: 'BAKE_TIME', kind: 'bake', waitMs: config.bakeTimeInMinutes * 60_000 },
    { stage: 'CLEAN_UP', kind: 'cleanUp' },
  );
  return steps;
}
