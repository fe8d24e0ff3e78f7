import { createHash } from 'node:crypto';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CoordinationTable } from '../coordination/table.ts';
import { awsCall, CallCapReached, hasErrorName } from '../errors.ts';
import { ecrRegistry } from '../image-ref.ts';
import { executionArnOf, executionName, startDeploy } from '../start-deploy.ts';
import { type TargetClients, targetFor } from '../targets/target.ts';
import { budgeted, CallBudget } from './budget.ts';
import { checkDrift, type DriftOutcome } from './drift.ts';
import { type AppEnvState, readFleet } from './fleet.ts';
import { listTaggedImages, type RepositoryListing } from './images.ts';
import { findLostPush, historySince, rejectionOf } from './lost-push.ts';

export interface ReconcileDependencies {
  ssm: SSMClient;
  ecr: ECRClient;
  sfn: SFNClient;
  ecs: ECSClient;
  events: EventBridgeClient;
  table: CoordinationTable;
  parameterPrefix: string;
  stateMachineArn: string;
  /** Where `Drift Detected` goes (the default bus). */
  eventBusName: string;
  /** AWS calls one run may make, all services together. */
  maxCalls: number;
  /** DescribeImages pages (1000 images each) one repository may cost. */
  maxImagePages: number;
}

/** What the scheduled event says about this run: when, and where (for the registry host). */
export interface ReconcileRun {
  time: string;
  account: string;
  region: string;
}

export type LostPushOutcome =
  | { action: 'started'; digest: string; tag: string; executionArn: string }
  | { action: 'none'; why: string };

export type AppEnvOutcome =
  | { app: string; env: string; status: 'checked'; lostPush: LostPushOutcome; drift: DriftOutcome }
  | { app: string; env: string; status: 'deferred'; why: string }
  | { app: string; env: string; status: 'failed'; error: { name: string; message: string } };

export interface ReconcileSummary {
  /** The scheduled time of the run. */
  runAt: string;
  /** App/environments whose checks all ran. */
  checked: number;
  /** Deploys started for pushes whose event was lost. */
  started: number;
  /** App/environments whose target runs something else than the recorded live release. */
  drifted: number;
  /** Of those, the ones whose recorded release Gantry started putting back (`onDrift: restore`). */
  restored: number;
  /** App/environments left for the next run: the call cap was spent first. */
  deferred: number;
  /** App/environments whose checks failed (an AWS error); the others went on. */
  failed: number;
  /** Configs that fail validation, reported and skipped. */
  invalidConfigs: string[];
  calls: number;
  callCap: number;
  /** Set when the cap was spent before the fleet was read: nothing was checked. */
  fleetUnread?: string;
  outcomes: AppEnvOutcome[];
}

/**
 * Why a reconciler at all: ECR sends `ECR Image Action` on a best-effort basis (EventBridge events
 * reference, "Amazon Elastic Container Registry events", delivery type: best effort:
 * https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-ecr.html), so a push can go
 * unannounced; and a service can be changed behind Gantry's back.
 *
 * One reconciler run: reads the fleet once, then checks each app/environment in turn, within a
 * cap on AWS calls. Where the turn starts changes with the run's time, so when the cap binds the
 * same app/environments are not the ones left over every run.
 */
export async function reconcile(deps: ReconcileDependencies, run: ReconcileRun): Promise<ReconcileSummary> {
  const budget = new CallBudget(deps.maxCalls);
  const clients = {
    ssm: budgeted(deps.ssm, budget),
    ecr: budgeted(deps.ecr, budget),
    sfn: budgeted(deps.sfn, budget),
    ecs: budgeted(deps.ecs, budget),
    events: budgeted(deps.events, budget),
    table: { ...deps.table, dynamodb: budgeted(deps.table.dynamodb, budget) },
  };
  const runDeps = {
    ...deps,
    ...clients,
    // The target's own "read what is live", through this run's counted clients.
    readRunning: (appEnv: AppEnvState, options?: { withImage?: boolean }) =>
      targetFor(appEnv.config, readingTargetClients(clients, deps.parameterPrefix), {
        app: appEnv.app,
        env: appEnv.env,
      }).readLive(options),
  };
  const summary: ReconcileSummary = {
    runAt: run.time,
    checked: 0,
    started: 0,
    drifted: 0,
    restored: 0,
    deferred: 0,
    failed: 0,
    invalidConfigs: [],
    calls: 0,
    callCap: deps.maxCalls,
    outcomes: [],
  };
  let fleet: Awaited<ReturnType<typeof readFleet>>;
  try {
    fleet = await readFleet(clients.ssm, deps.parameterPrefix);
  } catch (error) {
    // A cap too small for the fleet itself: say so (a throw would only be retried, alike).
    if (!(error instanceof CallCapReached)) throw error;
    return {
      ...summary,
      fleetUnread: `${error.message}: raise maxCalls above the fleet's reads`,
      calls: budget.spent,
    };
  }
  summary.invalidConfigs = fleet.invalid.map(({ app, env, issues }) => `${app}/${env}: ${issues.join('; ')}`);

  const appEnvs = rotate(fleet.appEnvs, turnOf(run.time));
  const listings = new Map<string, RepositoryListing>();
  let capReached: CallCapReached | undefined;
  for (const appEnv of appEnvs) {
    const { app, env } = appEnv;
    if (capReached) {
      summary.outcomes.push({ app, env, status: 'deferred', why: capReached.message });
      continue;
    }
    try {
      // The steps of one app/environment; each is one more entry here.
      const lostPush = await checkLostPush(runDeps, run, appEnv, listings);
      // A deploy just started will change what runs: a restore now would supersede it.
      const drift: DriftOutcome =
        lostPush.action === 'started'
          ? { action: 'none', why: 'a deploy was started this run: drift is judged after it' }
          : await checkDrift(runDeps, appEnv, run.time);
      summary.outcomes.push({ app, env, status: 'checked', lostPush, drift });
    } catch (error) {
      if (error instanceof CallCapReached) {
        capReached = error;
        summary.outcomes.push({ app, env, status: 'deferred', why: error.message });
        continue;
      }
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      summary.outcomes.push({ app, env, status: 'failed', error: { name, message: message.slice(0, 500) } });
    }
  }
  for (const outcome of summary.outcomes) {
    if (outcome.status === 'checked') summary.checked += 1;
    if (outcome.status === 'deferred') summary.deferred += 1;
    if (outcome.status === 'failed') summary.failed += 1;
    if (outcome.status !== 'checked') continue;
    if (outcome.lostPush.action === 'started') summary.started += 1;
    if (outcome.drift.action !== 'none') summary.drifted += 1;
    if (outcome.drift.action === 'restoring' && outcome.drift.started) summary.restored += 1;
  }
  summary.calls = budget.spent;
  return summary;
}

/**
 * Where this run starts in the fleet: a number drawn from the run's time, so runs start at
 * scattered places and app/environments a capped run left over come early in some later run. It
 * needs no state of its own (a stored cursor would cost two more calls a run).
 */
function turnOf(time: string): number {
  return createHash('sha256').update(time).digest().readUInt32BE(0);
}

/** `items` starting at position `turn` modulo their number. */
function rotate<T>(items: readonly T[], turn: number): T[] {
  if (items.length === 0) return [];
  const start = ((turn % items.length) + items.length) % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/**
 * Starts the deploy a lost push event would have started: the same deterministic execution name
 * as the entry Lambda (so a deploy the event did start is never doubled), unless the digest is in
 * flight or done already, or was rolled back from.
 */
async function checkLostPush(
  deps: ReconcileDependencies,
  run: ReconcileRun,
  appEnv: AppEnvState,
  listings: Map<string, RepositoryListing>,
): Promise<LostPushOutcome> {
  const { app, env, config } = appEnv;
  if (config.tagPattern === undefined) return { action: 'none', why: 'no tagPattern: manual starts only' };
  let listing = listings.get(config.repository);
  if (listing === undefined) {
    listing = await listTaggedImages(deps.ecr, config.repository, { maxPages: deps.maxImagePages });
    listings.set(config.repository, listing);
  }
  if (listing.missing) return { action: 'none', why: `ECR has no repository ${config.repository}` };
  if (!listing.complete) {
    return {
      action: 'none',
      why: `${config.repository} has more than ${deps.maxImagePages * 1000} tagged images: not listed in full, so its newest is unknown (expire old images with an ECR lifecycle policy)`,
    };
  }
  const candidate = findLostPush(appEnv, listing.images);
  if (!candidate.found) return { action: 'none', why: candidate.why };
  const { image, tag } = candidate;

  const name = executionName('push', app, env, image.digest);
  const existing = await describeExecution(deps.sfn, executionArnOf(deps.stateMachineArn, name));
  if (existing !== undefined) {
    return { action: 'none', why: `the deploy of ${image.digest} was started already (${existing})` };
  }
  const rejection = rejectionOf(await historySince(deps.table, { app, env }, image.pushedAt), image.digest);
  if (rejection !== undefined) {
    return {
      action: 'none',
      why: `${image.digest} was rolled back from at ${rejection.at} (${rejection.cause?.error ?? rejection.reason ?? rejection.kind}): never redeployed by the reconciler`,
    };
  }
  const outcome = await startDeploy(deps.sfn, deps.stateMachineArn, name, {
    app,
    env,
    image: `${ecrRegistry(run.account, run.region)}/${config.repository}:${tag}@${image.digest}`,
    source: 'reconciler',
    requestedAt: new Date(image.pushedAt).toISOString(),
  });
  return outcome.started
    ? { action: 'started', digest: image.digest, tag, executionArn: outcome.executionArn }
    : { action: 'none', why: `the deploy of ${image.digest} was started already` };
}

/** The execution's status, or undefined when there is none by that ARN. */
async function describeExecution(sfn: SFNClient, executionArn: string): Promise<string | undefined> {
  try {
    const { status } = await awsCall('describing the deploy execution', () =>
      sfn.send(new DescribeExecutionCommand({ executionArn })),
    );
    return status ?? 'UNKNOWN';
  } catch (error) {
    if (hasErrorName(error, 'ExecutionDoesNotExist')) return undefined;
    throw error;
  }
}

/**
 * The clients a target reads what is live with, this run's counted ones: ECS (a service), Parameter
 * Store (a swarm agent's status). The reconciler never signals a swarm nor asks Lightsail, so those
 * clients are absent and asking for one is a bug, said as such.
 */
function readingTargetClients(
  clients: { ecs: ECSClient; ssm: SSMClient },
  parameterPrefix: string,
): TargetClients {
  const notForReading = (client: string) => (): never => {
    throw new Error(`the reconciler only reads what is live: it has no ${client} client`);
  };
  return {
    ecs: clients.ecs,
    ssm: clients.ssm,
    parameterPrefix,
    get sqs() {
      return notForReading('SQS')();
    },
    get lightsail() {
      return notForReading('Lightsail')();
    },
  };
}
