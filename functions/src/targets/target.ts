import type { ECSClient } from '@aws-sdk/client-ecs';
import type { LightsailClient } from '@aws-sdk/client-lightsail';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DeployConfig } from '../config/schema.ts';
import type { SettledVerdict } from '../coordination/waits.ts';
import type { DeployPlan } from '../deploy-plan.ts';
import type { DeployState } from '../deploy-state.ts';
import type { ServiceDeploymentWatch } from '../ecs/service-deployment.ts';
import type { GantryErrorName } from '../errors.ts';
import type { DeployedImage } from '../release.ts';
import { ecsTarget } from './ecs.ts';
import { type AppEnv, swarmTarget } from './swarm.ts';

/**
 * The seam between the state machine and what it deploys to. Every step that touches a target
 * goes through {@link DeployTarget}; {@link targetFor} is the one place that looks at
 * `config.target.type`. A new target is one config schema (config/schema.ts), one module here and
 * one case in {@link targetFor}.
 */
export type TargetType = DeployConfig['target']['type'];

/**
 * A rollout a target started (Deploy's `$.deployment`, Rollback's `$.rollback`): what the wait
 * states and the release record read, whatever the target.
 */
export interface TargetDeployment {
  target: TargetType;
  /** The id the target's events name, under which the execution's task token is parked. */
  deploymentId: string;
  /** What runs once the rollout completes (ECS: the task definition ARN). */
  revision: string;
  /** What ran before: the rollback target when no release is recorded. */
  previousRevision: string;
  /** The image in that revision, so even a first deploy's rollback is recorded by image. */
  previousImage?: string;
  /**
   * A rollout the target runs in stages with its own pauses (ECS blue/green, linear, canary): how
   * Gantry follows it. The state machine takes the staged path (WaitForServiceDeployment) when set.
   */
  watch?: ServiceDeploymentWatch;
  /** The app/environment, for targets that keep their state per app/env (a swarm's order and status). */
  appEnv?: AppEnv;
}

/** A rollout's verdict: still going, or settled (what the parked execution resumes with). */
export type RolloutJudgement =
  | Extract<SettledVerdict, { outcome: 'completed' }>
  | { outcome: 'pending'; lifecycleStage?: string }
  /** A staged rollout paused at a hook Gantry decides (config `gates`). */
  | Extract<SettledVerdict, { outcome: 'gate' }>
  | (Extract<SettledVerdict, { outcome: 'failed' }> & {
      /** A rollback's own wait ends RollbackPaused (retried forced, once) or RollbackFailed. */
      error: Extract<
        GantryErrorName,
        'RolloutFailed' | 'RolloutTimedOut' | 'RolloutNeedsOperator' | 'RollbackPaused' | 'RollbackFailed'
      >;
    });

/** What the target runs now, read from the target itself (not from Gantry's records). */
export interface LiveRevision {
  revision: string;
  /** The rollout in progress, if one is. */
  deploymentInProgress?: string;
  /** The tracked container's image in that revision, when asked for (it may cost a call more). */
  image?: string;
}

/**
 * What `gantry plan` shows for a target, computed with reads only: the change, the target's
 * description before and after it (diffed for people), what the new revision hands to the platform
 * (roles and secrets, checked by the dry run) and the target's own checks.
 */
export interface TargetPreview {
  /** The calls the deploy would make, for people: "RegisterTaskDefinition web-prod …, then UpdateService …". */
  change: string;
  before: unknown;
  after: unknown;
  references: { roles: { arn: string; use: 'task' | 'execution' }[]; secrets: string[] };
  checks: { check: string; status: 'ok' | 'fail' | 'warn' | 'unknown'; detail: string }[];
}

export interface DeployTarget {
  readonly type: TargetType;
  /** ResolveConfig: refuses, before anything changes, a target Gantry may not deploy. */
  requireDeployable(): Promise<void>;
  /** Rolls the plan's image out: a new revision, or the recorded one for a requested rollback. */
  deploy(plan: DeployPlan): Promise<TargetDeployment>;
  /** Puts the rollback target back, following the target's own automatic rollback if it made one. */
  rollBack(state: DeployState): Promise<TargetDeployment>;
  /**
   * What the parked wait keeps beside the token, so the target's event handler can judge the
   * rollout from the event and the parked item alone.
   */
  parkedDetails(deployment: TargetDeployment): Record<string, unknown>;
  /** Reads the rollout from the target itself: the first look after parking, and the timeout path. */
  judgeRollout(deployment: TargetDeployment, options: { deadlinePassed: boolean }): Promise<RolloutJudgement>;
  /** `gantry plan`: what {@link deploy} would change for this plan, with reads only. */
  preview(plan: DeployPlan): Promise<TargetPreview>;
  /**
   * A rollback to a recorded release: refuses, naming why, a revision the target can no longer run
   * (ECS: a deregistered task definition). The image's presence in ECR is checked by the caller.
   */
  requireRunnable(release: DeployedImage): Promise<void>;
  /** What revision runs now (for the CLI and a reconciler); with `withImage`, its image too. */
  readLive(options?: { withImage?: boolean }): Promise<LiveRevision>;
}

/**
 * The clients targets use, built by the handler factory. Clients are created on first use, so a
 * function that never meets a target type never builds that target's clients.
 */
export interface TargetClients {
  readonly ecs: ECSClient;
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
  readonly lightsail: LightsailClient;
  /** Where the app/env parameters live (a swarm's order and status parameters are beside its config). */
  readonly parameterPrefix: string;
}

/**
 * The one lookup: the target the config names, bound to its clients. `appEnv` is the plan's
 * (ResolveConfig, Deploy, Rollback); the wait states pass none, their deployment carries it.
 */
export function targetFor(config: DeployConfig, clients: TargetClients, appEnv?: AppEnv): DeployTarget {
  switch (config.target.type) {
    case 'ecs':
      return ecsTarget(config.target, config.health, clients, undefined, config.gates);
    case 'swarm':
      return swarmTarget(config.target, clients, appEnv);
  }
}
