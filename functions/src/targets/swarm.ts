/**
 * A Docker Swarm on Lightsail hosts, run by the host agent (`agent/`). Gantry never calls the
 * Docker Engine: it writes an order to the app/env's order parameter and wakes the agent through
 * the swarm's queue (swarm/order.ts), and judges the rollout from the agent's reports: the
 * `Swarm Rollout State Change` event (onSwarmEvent), or on the timeout path the agent's status
 * parameter (swarm/verdict.ts). Its revision is the pinned image plus the version of the
 * environment parameter rendered into the services.
 */
import type { LightsailClient } from '@aws-sdk/client-lightsail';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { DeployPlan } from '../deploy-plan.ts';
import { causeDetails, type DeployState, rollbackTarget } from '../deploy-state.ts';
import { awsCall, GantryError, hasErrorName } from '../errors.ts';
import type { SwarmTarget } from '../swarm/config.ts';
import { swarmParameters, swarmRolloutReportSchema } from '../swarm/contract.ts';
import { checkHealthGate, type HealthGateProgress, requireRunningInstances } from '../swarm/lightsail.ts';
import { buildSwarmOrder, servicesOnImage, signalSwarm } from '../swarm/order.ts';
import { describeForensics, type FinalSwarmVerdict, planSwarmRollback } from '../swarm/rollback.ts';
import { type ExpectedRollout, verdictFromStatus } from '../swarm/verdict.ts';
import * as z from '../zod.ts';
import type { DeployTarget, RolloutJudgement, TargetDeployment, TargetPreview } from './target.ts';

/** What the swarm target needs beside its config: its clients and where the app/env parameters live. */
export interface SwarmTargetClients {
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
  readonly lightsail: LightsailClient;
  readonly parameterPrefix: string;
}

/** The app/environment a rollout belongs to: the swarm's order and status parameters are per app/env. */
export interface AppEnv {
  readonly app: string;
  readonly env: string;
}

/**
 * The revision names what a swarm release runs: the pinned image, and the environment parameter's
 * version when one was rendered (`+env.<version>`; `+` never occurs in an image reference).
 */
const environmentMark = '+env.';

export function swarmRevision(image: string, environmentVersion?: number): string {
  return environmentVersion === undefined ? image : `${image}${environmentMark}${environmentVersion}`;
}

export function parseSwarmRevision(revision: string): { image: string; environmentVersion?: number } {
  const at = revision.lastIndexOf(environmentMark);
  if (at < 0) return { image: revision };
  const version = Number(revision.slice(at + environmentMark.length));
  return Number.isInteger(version) && version >= 1
    ? { image: revision.slice(0, at), environmentVersion: version }
    : { image: revision };
}

/**
 * The id of a rollback that follows Swarm's own: Swarm already put every service back on last-good,
 * so Gantry orders nothing and its rollback wait ends at the first look.
 */
const followedPrefix = 'followed-';

/** The detail a failed swarm rollout carries into the rollback (`$.failure`'s Cause, `swarm` key). */
const failedVerdictSchema = z.union([
  z.strictObject({
    status: z.enum(['rolled_back_by_swarm', 'rollback_paused']),
    reason: z.string(),
    forensics: swarmRolloutReportSchema.shape.services,
  }),
  z.strictObject({
    status: z.literal('failed'),
    state: swarmRolloutReportSchema.shape.state,
    changed: z.boolean(),
    reason: z.string(),
    forensics: swarmRolloutReportSchema.shape.services,
  }),
]);

export function swarmTarget(
  target: SwarmTarget,
  clients: SwarmTargetClients,
  appEnv: AppEnv | undefined,
): DeployTarget {
  const scopeOf = (deployment?: TargetDeployment): AppEnv => {
    const scope = deployment?.appEnv ?? appEnv;
    // A programming error, not bad input: every swarm deployment is made with its app/env.
    if (scope === undefined) throw new TypeError('a swarm target needs the app and environment');
    return scope;
  };
  const expectedOf = (deployment: TargetDeployment): ExpectedRollout => ({
    ...scopeOf(deployment),
    deploymentId: deployment.deploymentId,
    services: target.services.map((service) => ({
      name: service.name,
      image: parseSwarmRevision(deployment.revision).image,
    })),
  });
  return {
    type: 'swarm',
    // ResolveConfig: the hosts must be there and running before an order is written.
    requireDeployable: async () => {
      await requireRunningInstances(clients.lightsail, target.lightsail.instanceTag);
    },
    deploy: (plan) => deployToSwarm(target, clients, plan),
    rollBack: (state) => rollBackSwarm(target, clients, state),
    // What onSwarmEvent reads back (swarmRolloutWaitSchema) to judge a report on its own.
    parkedDetails: (deployment) => {
      const { deploymentId: _, ...expected } = expectedOf(deployment);
      return expected;
    },
    judgeRollout: async (deployment, options) => {
      if (deployment.deploymentId.startsWith(followedPrefix)) {
        return { outcome: 'completed', deploymentId: deployment.deploymentId };
      }
      const verdict = await verdictFromStatus(clients.ssm, clients.parameterPrefix, expectedOf(deployment));
      if (verdict.status !== 'timed_out') return judgeSwarmVerdict(deployment.deploymentId, verdict);
      if (!options.deadlinePassed) return { outcome: 'pending' };
      return {
        outcome: 'failed',
        error: 'RolloutTimedOut',
        message: `the swarm rollout did not end within the health timeout: ${verdict.lastReport}`,
        deploymentId: deployment.deploymentId,
      };
    },
    // `gantry plan`: the services' images now (the agent's last report) against the order's, with
    // reads only (the order, the queue and the hosts are untouched).
    preview: (plan) => previewSwarmDeploy(target, clients, plan),
    // A pinned image a registry still holds can always run again on a swarm (its presence in ECR is
    // checked by the caller); the environment version it recorded is read at deploy time.
    requireRunnable: async () => {},
    readLive: async () => {
      const report = await readStatus(clients.ssm, clients.parameterPrefix, scopeOf());
      // What actually runs, per the agent's last report: one image when the stack agrees.
      const images = [...new Set(report?.services.flatMap((service) => service.runningImages) ?? [])];
      return {
        revision: images.length === 0 ? 'unknown' : images.join(', '),
        ...(report &&
          ['accepted', 'updating'].includes(report.state) && { deploymentInProgress: report.deploymentId }),
      };
    },
  };
}

/**
 * A final verdict as the parked execution resumes with it. A deploy order's failure carries the
 * verdict (`swarm`) for the rollback to read; a rollback order that paused once asks for its
 * forced retry (`RollbackPaused`); any other rollback end is `RollbackFailed`, with the tasks.
 */
export function judgeSwarmVerdict(deploymentId: string, verdict: FinalSwarmVerdict): RolloutJudgement {
  if (verdict.status === 'deployed') return { outcome: 'completed', deploymentId };
  if (!deploymentId.startsWith('rollback')) {
    // The agent's reason already names the failed task; the forensics travel whole in `swarm`.
    // (verdict.ts words a rollback the agent gave no reason for "Swarm rolled the update back".)
    const byItself = 'Swarm rolled the update back';
    const message =
      verdict.status === 'rolled_back_by_swarm' && !verdict.reason.startsWith(byItself)
        ? `${byItself}: ${verdict.reason}`
        : verdict.reason;
    return {
      outcome: 'failed',
      error: 'RolloutFailed',
      message: message.slice(0, 4_000),
      deploymentId,
      swarm: verdict,
    };
  }
  const forensics = describeForensics(verdict.forensics);
  const message = `${verdict.reason}${forensics === '' ? '' : `; ${forensics}`}`.slice(0, 4_000);
  // A rollback order's own end: only a paused one that was not forced yet gets a second try.
  const forced = deploymentId.startsWith('rollback-forced-');
  return {
    outcome: 'failed',
    error: verdict.status === 'rollback_paused' && !forced ? 'RollbackPaused' : 'RollbackFailed',
    message: `putting the last good release back ended ${verdict.status}${forced ? ' (forced)' : ''}: ${message}`,
    deploymentId,
  };
}

async function deployToSwarm(
  target: SwarmTarget,
  clients: SwarmTargetClients,
  plan: DeployPlan,
): Promise<TargetDeployment> {
  const appEnv = { app: plan.app, env: plan.env };
  const parameters = swarmParameters(clients.parameterPrefix, plan.app, plan.env);
  const { recorded, services } = orderedServices(target, plan);
  const environmentVersion =
    recorded === undefined
      ? await parameterVersion(clients.ssm, parameters.environment)
      : recorded.environmentVersion;
  const before = await readStatus(clients.ssm, clients.parameterPrefix, appEnv);
  const order = buildSwarmOrder({
    ...appEnv,
    target,
    kind: 'deploy',
    executionArn: plan.executionArn,
    // A retried step writes the very same order.
    orderedAt: new Date(plan.requestedAt).toISOString(),
    services,
    ...(environmentVersion !== undefined && { environmentVersion }),
  });
  await signalSwarm(clients, clients.parameterPrefix, target.queueName, order);
  const previousImage = uniformImage(before);
  return {
    target: 'swarm',
    deploymentId: order.deploymentId,
    revision: swarmRevision(services[0]?.image ?? '', environmentVersion),
    previousRevision: plan.live?.revision ?? previousImage ?? 'none',
    ...(previousImage !== undefined && { previousImage }),
    appEnv,
  };
}

/**
 * Puts last-good back, all services at once. Swarm's own rollback is followed, never doubled; a
 * rollback whose own update paused (`$.rollbackPaused`) is ordered again, forced, once.
 */
async function rollBackSwarm(
  target: SwarmTarget,
  clients: SwarmTargetClients,
  state: DeployState,
): Promise<TargetDeployment> {
  const { plan } = state;
  const appEnv = { app: plan.app, env: plan.env };
  const goal = rollbackTarget(state);
  // The recorded revision names the image the swarm ran (in the target's registry); older or
  // first-deploy records may only know the image.
  const recorded = parseSwarmRevision(goal.revision);
  const lastGood = recorded.image.includes('@sha256:') ? recorded : { image: goal.image };
  const known = lastGood.image !== 'unknown' && lastGood.image.includes('@sha256:');
  const decision = planSwarmRollback({
    ...appEnv,
    target,
    executionArn: plan.executionArn,
    orderedAt: new Date(plan.requestedAt).toISOString(),
    ...(lastGood.environmentVersion !== undefined && { environmentVersion: lastGood.environmentVersion }),
    verdict: state.rollbackPaused
      ? { status: 'rollback_paused', reason: causeDetails(state.rollbackPaused).message, forensics: [] }
      : failedVerdict(state),
    lastGood: known
      ? target.services.map((service) => ({ name: service.name, image: lastGood.image }))
      : undefined,
  });
  const failedRevision = state.deployment?.revision ?? plan.desired.image;
  if (decision.action === 'none') {
    return {
      target: 'swarm',
      deploymentId: `${followedPrefix}${state.deployment?.deploymentId ?? 'deploy'}`,
      revision: swarmRevision(lastGood.image, lastGood.environmentVersion),
      previousRevision: failedRevision,
      appEnv,
    };
  }
  await signalSwarm(clients, clients.parameterPrefix, target.queueName, decision.order);
  return {
    target: 'swarm',
    deploymentId: decision.order.deploymentId,
    revision: swarmRevision(lastGood.image, lastGood.environmentVersion),
    previousRevision: failedRevision,
    appEnv,
  };
}

/** How the deploy failed, from `$.failure`: the agent's verdict when the wait carried one. */
function failedVerdict(state: DeployState): Exclude<FinalSwarmVerdict, { status: 'deployed' }> {
  const { message, details } = causeDetails(state.failure);
  const carried = failedVerdictSchema.safeParse(details?.swarm);
  if (carried.success) return carried.data;
  // A timeout, or a step that failed after the order was written: the swarm may run anything.
  return { status: 'failed', state: 'failed', changed: true, reason: message, forensics: [] };
}

/** The single image every service runs, per the agent's last report; undefined when not uniform. */
function uniformImage(report: z.infer<typeof swarmRolloutReportSchema> | undefined): string | undefined {
  const images = new Set(report?.services.flatMap((service) => service.runningImages));
  return images.size === 1 ? [...images][0] : undefined;
}

async function readStatus(ssm: SSMClient, prefix: string, appEnv: AppEnv) {
  const name = swarmParameters(prefix, appEnv.app, appEnv.env).status;
  const value = await parameterValue(ssm, name, `reading the swarm status ${name}`);
  if (value === undefined) return undefined;
  try {
    const parsed = swarmRolloutReportSchema.safeParse(JSON.parse(value.value));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The environment parameter's current version, pinned into the order so a retry renders the same
 * values; the value itself is not decrypted (GetParameter returns `Version` either way, SDK model
 * `Parameter.Version`), so Gantry never holds the app's secrets. Undefined when there is none.
 */
async function parameterVersion(ssm: SSMClient, name: string): Promise<number | undefined> {
  return (await parameterValue(ssm, name, `reading the version of ${name}`))?.version;
}

async function parameterValue(
  ssm: SSMClient,
  name: string,
  doing: string,
): Promise<{ value: string; version?: number } | undefined> {
  try {
    const { Parameter } = await awsCall(doing, () => ssm.send(new GetParameterCommand({ Name: name })));
    if (Parameter?.Value === undefined) return undefined;
    return { value: Parameter.Value, ...(Parameter.Version !== undefined && { version: Parameter.Version }) };
  } catch (error) {
    if (hasErrorName(error, 'ParameterNotFound')) return undefined;
    throw error;
  }
}

/** What the health gate carries between two checks (`$.healthGate`). */
export interface HealthGateState {
  readonly status?: 'waiting' | 'passed';
  readonly progress?: HealthGateProgress;
}

/**
 * One check of the optional Lightsail load-balancer gate after the swarm converged: every swarm
 * host (found by tag) behind the load balancer and healthy for `bakeSeconds`. `waiting` names when
 * to check again (the state machine's Wait state); a failed gate is RolloutFailed, so the
 * deploy rolls back. At most {@link healthGateChecks} checks, so its transitions are bounded.
 */
export async function swarmHealthGate(
  lightsail: LightsailClient,
  target: SwarmTarget,
  gate: HealthGateState,
  now: Date,
): Promise<HealthGateState & { nextCheckInSeconds?: number; checks?: number }> {
  const loadBalancer = target.lightsail.loadBalancer;
  if (loadBalancer === undefined) return { status: 'passed' };
  const hosts = await requireRunningInstances(lightsail, target.lightsail.instanceTag);
  const step = await checkHealthGate(lightsail, {
    loadBalancer,
    instanceNames: hosts.map((host) => host.name),
    ...(gate.progress !== undefined && { progress: gate.progress }),
    now,
    maxChecks: healthGateChecks,
  });
  if (step.status === 'failed') {
    throw new GantryError(
      'RolloutFailed',
      `the Lightsail load balancer ${loadBalancer.name} gate failed: ${step.reason}`,
    );
  }
  if (step.status === 'passed') return { status: 'passed', checks: step.checks };
  return { status: 'waiting', nextCheckInSeconds: step.nextCheckInSeconds, progress: step.progress };
}

/** The gate's checks, whatever `bakeSeconds`: the bound on its state transitions. */
export const healthGateChecks = 5;

/**
 * The services an order for this plan names, each with its image. A requested rollback reuses the
 * recorded revision: the very image (and environment version) it ran.
 */
function orderedServices(target: SwarmTarget, plan: DeployPlan) {
  const recorded =
    plan.desired.revision === undefined ? undefined : parseSwarmRevision(plan.desired.revision);
  const ecrHost = plan.desired.image.split('/')[0] ?? '';
  const services =
    recorded === undefined
      ? servicesOnImage(target, { repository: plan.config.repository, digest: plan.desired.digest }, ecrHost)
      : target.services.map((service) => ({ name: service.name, image: recorded.image }));
  return { recorded, services };
}

async function previewSwarmDeploy(
  target: SwarmTarget,
  clients: SwarmTargetClients,
  plan: DeployPlan,
): Promise<TargetPreview> {
  const appEnv = { app: plan.app, env: plan.env };
  const after = orderedServices(target, plan).services;
  const report = await readStatus(clients.ssm, clients.parameterPrefix, appEnv);
  const before = target.services.map((service) => ({
    name: service.name,
    image: report?.services.find((reported) => reported.name === service.name)?.specImage ?? 'unknown',
  }));
  const busy = report !== undefined && ['accepted', 'updating'].includes(report.state);
  return {
    change: `PutParameter ${swarmParameters(clients.parameterPrefix, plan.app, plan.env).order} (the order), then SendMessage to ${target.queueName} (the wake-up)`,
    before,
    after,
    references: { roles: [], secrets: [] },
    checks: [
      {
        check: 'agent report',
        status: report === undefined ? 'warn' : 'ok',
        detail:
          report === undefined
            ? 'no status parameter yet: the agent never reported'
            : `last ${report.state} at ${report.reportedAt}`,
      },
      {
        check: 'swarm idle',
        status: busy ? 'warn' : 'ok',
        detail: busy
          ? `deployment ${report?.deploymentId} is still ${report?.state}`
          : 'no rollout in progress',
      },
    ],
  };
}
