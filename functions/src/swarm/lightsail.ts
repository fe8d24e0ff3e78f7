/**
 * What Gantry asks Lightsail about a swarm target: are the app/env's hosts there and running
 * (before an order is written), and does the load balancer in front of them find every one healthy
 * (an optional gate after the swarm converged). Lightsail sends no events, so the gate polls, a
 * bounded number of times a state machine can loop over.
 */
import {
  GetInstancesCommand,
  GetLoadBalancerCommand,
  type Instance,
  type InstanceHealthSummary,
  type LightsailClient,
} from '@aws-sdk/client-lightsail';
import { awsCall, InputInvalid, SwarmInstancesNotRunning } from '../errors.ts';
import type { SwarmTarget } from './config.ts';

export interface SwarmInstance {
  readonly name: string;
  readonly state: string;
}

/**
 * The instances carrying the target's tag, all `running`; otherwise `SwarmInstancesNotRunning`,
 * naming each instance not running and its state. GetInstances has no filter and pages its answer
 * (`nextPageToken`: "A next page token is not returned if there are no more results to display",
 * SDK model `GetInstancesResult`), so every page is read and the tag is matched here. The state is
 * judged by `state.name` (`InstanceState`: "running", "pending", …); Lightsail documents no codes.
 */
export async function requireRunningInstances(
  lightsail: LightsailClient,
  tag: SwarmTarget['lightsail']['instanceTag'],
): Promise<SwarmInstance[]> {
  const tagged: Instance[] = [];
  let pageToken: string | undefined;
  do {
    const page = await awsCall('listing the Lightsail instances', () =>
      lightsail.send(new GetInstancesCommand(pageToken === undefined ? {} : { pageToken })),
    );
    tagged.push(
      ...(page.instances ?? []).filter((instance) =>
        (instance.tags ?? []).some((t) => t.key === tag.key && (t.value ?? '') === tag.value),
      ),
    );
    pageToken = page.nextPageToken === '' ? undefined : page.nextPageToken;
  } while (pageToken !== undefined);
  const instances = tagged.map((instance) => ({
    name: instance.name ?? '(unnamed)',
    state: instance.state?.name ?? 'unknown',
  }));
  if (instances.length === 0) {
    throw new SwarmInstancesNotRunning(`no Lightsail instance carries the tag ${tag.key}=${tag.value}`);
  }
  const notRunning = instances.filter((instance) => instance.state !== 'running');
  if (notRunning.length > 0) {
    throw new SwarmInstancesNotRunning(
      `Lightsail instances tagged ${tag.key}=${tag.value} not running: ${notRunning.map((i) => `${i.name} (${i.state})`).join(', ')}`,
    );
  }
  return instances;
}

/** One instance as the load balancer's health checks see it (GetLoadBalancer `instanceHealthSummary`). */
export interface InstanceHealthView {
  readonly instance: string;
  readonly health: string;
  readonly reason?: string;
}

/** Whether the load balancer finds every attached instance healthy, and what it says of each. */
export async function loadBalancerHealth(
  lightsail: LightsailClient,
  loadBalancerName: string,
): Promise<{ healthy: boolean; instances: InstanceHealthView[] }> {
  const { loadBalancer } = await awsCall(`reading the Lightsail load balancer ${loadBalancerName}`, () =>
    lightsail.send(new GetLoadBalancerCommand({ loadBalancerName })),
  );
  const instances = (loadBalancer?.instanceHealthSummary ?? []).map(view);
  return { healthy: instances.length > 0 && instances.every((i) => i.health === 'healthy'), instances };
}

function view(summary: InstanceHealthSummary): InstanceHealthView {
  return {
    instance: summary.instanceName ?? '(unnamed)',
    health: summary.instanceHealth ?? 'unknown',
    ...(summary.instanceHealthReason === undefined ? {} : { reason: summary.instanceHealthReason }),
  };
}

/** The gate's memory between two checks; plain JSON, carried by the state machine. */
export interface HealthGateProgress {
  /** When the first check ran (ISO 8601). */
  readonly startedAt: string;
  readonly checks: number;
}

export type HealthGateStep =
  | { readonly status: 'passed'; readonly checks: number; readonly instances: InstanceHealthView[] }
  | {
      readonly status: 'waiting';
      /** Seconds until the next check (a Wait state's `SecondsPath`). */
      readonly nextCheckInSeconds: number;
      readonly progress: HealthGateProgress;
      readonly instances: InstanceHealthView[];
    }
  | { readonly status: 'failed'; readonly reason: string; readonly instances: InstanceHealthView[] };

export interface HealthGateInput {
  readonly loadBalancer: NonNullable<SwarmTarget['lightsail']['loadBalancer']>;
  /** The swarm's hosts (from {@link requireRunningInstances}): each must be behind the load balancer. */
  readonly instanceNames: readonly string[];
  /** Absent on the first check. */
  readonly progress?: HealthGateProgress;
  readonly now: Date;
  /** At most this many checks over `bakeSeconds` (default 5), so the loop's transitions are bounded. */
  readonly maxChecks?: number;
}

/**
 * `initial` is what an instance reports while the load balancer registers it or runs its first
 * checks (`Lb.RegistrationInProgress`, `Lb.InitialHealthChecking`: SDK model
 * `InstanceHealthSummary.instanceHealthReason`): not yet healthy, not a failure.
 */
const settling = 'initial';

/**
 * One check of the gate: check now; say how long until the next check; give up after
 * `bakeSeconds`. It fails at once when an instance is anything but `healthy` or `initial`
 * (`unhealthy`, `draining`, `unused`, `unavailable`) or a swarm host is not behind the load
 * balancer, and passes when `bakeSeconds` have gone by with no such check and the last one finds
 * every instance healthy. Checks are spread evenly over `bakeSeconds`, the last one at its end.
 */
export async function checkHealthGate(
  lightsail: LightsailClient,
  input: HealthGateInput,
): Promise<HealthGateStep> {
  const maxChecks = input.maxChecks ?? 5;
  if (!Number.isInteger(maxChecks) || maxChecks < 1)
    throw new InputInvalid('maxChecks must be an integer >= 1');
  const startedAt = input.progress === undefined ? input.now.getTime() : Date.parse(input.progress.startedAt);
  if (Number.isNaN(startedAt)) throw new InputInvalid('the health gate progress has no valid startedAt');
  const checks = (input.progress?.checks ?? 0) + 1;
  const { healthy, instances } = await loadBalancerHealth(lightsail, input.loadBalancer.name);

  const behind = new Set(instances.map((i) => i.instance));
  const missing = input.instanceNames.filter((name) => !behind.has(name));
  if (missing.length > 0) {
    return {
      status: 'failed',
      reason: `swarm hosts not behind the load balancer ${input.loadBalancer.name}: ${missing.join(', ')}`,
      instances,
    };
  }
  const bad = instances.filter((i) => i.health !== 'healthy' && i.health !== settling);
  if (bad.length > 0) return { status: 'failed', reason: `unhealthy: ${describe(bad)}`, instances };

  const bakeMs = input.loadBalancer.bakeSeconds * 1000;
  const remainingMs = startedAt + bakeMs - input.now.getTime();
  if (remainingMs <= 0 || checks >= maxChecks) {
    if (healthy) return { status: 'passed', checks, instances };
    return {
      status: 'failed',
      reason: `not healthy after ${input.loadBalancer.bakeSeconds} s: ${describe(instances.filter((i) => i.health !== 'healthy')) || 'no instance behind the load balancer'}`,
      instances,
    };
  }
  // The checks left share what is left of the bake, so the last lands at its end.
  const nextCheckInSeconds = Math.max(1, Math.ceil(remainingMs / 1000 / (maxChecks - checks)));
  return {
    status: 'waiting',
    nextCheckInSeconds,
    progress: { startedAt: new Date(startedAt).toISOString(), checks },
    instances,
  };
}

function describe(instances: readonly InstanceHealthView[]): string {
  return instances
    .map((i) => `${i.instance} ${i.health}${i.reason === undefined ? '' : ` (${i.reason})`}`)
    .join(', ');
}
