import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { rebuildRepositoryIndex } from '../functions/src/repository-index/config-change.ts';
import type { CallRecord } from '../sandbox/emulator/index.ts';
import { ecrPushEvent, type Sandbox } from '../sandbox/sandbox.ts';

/**
 * Gantry at fleet scale, in the sandbox (a SIMULATION of AWS with its default quotas on the
 * simulated clock): what one push and one deploy cost in AWS calls, and where the quotas bind.
 * `npm run bench` runs it at full size; test/scale/scenario.test.ts at reduced size.
 */

export interface FleetShape {
  appEnvs: number;
  /** App/environments are spread evenly: fan-out = appEnvs / repositories. */
  repositories: number;
}

const repositoryName = (index: number) => `repo-${String(index).padStart(4, '0')}`;
const appName = (index: number) => `app-${String(index).padStart(4, '0')}`;

/** Seeds the fleet (env `prod`, one ECS service each) and indexes it, as the reconciler's first run would. */
export async function seedFleet(sandbox: Sandbox, shape: FleetShape, prefix = ''): Promise<string[]> {
  const repositories = Array.from({ length: shape.repositories }, (_, i) => `${prefix}${repositoryName(i)}`);
  for (let i = 0; i < shape.appEnvs; i++) {
    sandbox.seedApp({
      app: `${prefix}${appName(i)}`,
      env: 'prod',
      repository: repositories[i % shape.repositories] ?? '',
      desiredCount: 1,
    });
  }
  // Imported here, after the sandbox has set the log level the handlers' logger reads at import.
  const { cachedConfigSource } = await import('../functions/handlers/config-source.ts');
  await rebuildRepositoryIndex({
    table: {
      dynamodb: new DynamoDBClient(sandbox.clientConfig()),
      tableName: sandbox.coordinationTable,
    },
    configSource: cachedConfigSource(new SSMClient(sandbox.clientConfig({ maxAttempts: 20 })), 0),
    parameterPrefix: sandbox.parameterPrefix,
  });
  return repositories;
}

export interface CallFigures {
  /** Calls of the whole deploy (push routing included), per app/environment deployed. */
  perDeploy: number;
  /** Calls the entry Lambda made to route the push. */
  perPush: number;
  /** Calls per deploy by API, `service:Operation`. */
  byApi: Record<string, number>;
}

const apiOf = (call: CallRecord) => `${call.service}:${call.operation}`;

/** Counts calls by API (throttled attempts included: they count against quotas too). */
export function countByApi(calls: readonly CallRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[apiOf(call)] = (counts[apiOf(call)] ?? 0) + 1;
  return counts;
}

/**
 * One push to one repository of the fleet, deployed to each app/environment tracking it, on a
 * rollout of `rolloutSeconds`: every AWS call it caused, per app/environment deployed.
 */
export async function measureDeployCalls(
  sandbox: Sandbox,
  repository: string,
  rolloutSeconds: number,
  tag: string,
): Promise<CallFigures> {
  await sandbox.idle();
  const from = sandbox.emulator.calls.length;
  const { digest } = await sandbox.push({
    repository,
    tag,
    scenario: { kind: 'healthy', stableAfterSeconds: rolloutSeconds },
  });
  await sandbox.idle();
  const calls = sandbox.emulator.calls.slice(from).filter((call) => call.error !== 'ThrottlingException');
  const deployed = sandbox.stepFunctions
    .listExecutions()
    .filter((execution) => execution.input.includes(digest) && execution.status === 'SUCCEEDED').length;
  const byApi = countByApi(calls);
  return {
    perDeploy: deployed === 0 ? Number.NaN : calls.length / deployed,
    perPush: calls.filter((call) => call.caller === 'onImagePushed').length,
    byApi: Object.fromEntries(
      Object.entries(byApi).map(([api, count]) => [api, count / Math.max(1, deployed)]),
    ),
  };
}

export interface ScenarioOptions extends FleetShape {
  minutes: number;
  /** Pushes a minute at the start and at the end; the rate ramps linearly in between. */
  startPerMinute: number;
  endPerMinute: number;
  /** Every minute after the first, this many pushes land within one second. */
  burst: number;
  /** Share of pushes whose event EventBridge delivers twice (at-least-once delivery). */
  duplicateShare: number;
}

/** The scenario at full size (the bench) and at the size `npm test` runs it. */
export const scenarioSizes = {
  full: {
    appEnvs: 1000,
    repositories: 500,
    minutes: 6,
    startPerMinute: 10,
    endPerMinute: 300,
    burst: 30,
    duplicateShare: 0.1,
  },
  reduced: {
    appEnvs: 100,
    repositories: 50,
    minutes: 2,
    startPerMinute: 10,
    endPerMinute: 60,
    burst: 30,
    duplicateShare: 0.1,
  },
} as const satisfies Record<string, ScenarioOptions>;

/** Latency quantiles, simulated seconds. */
export interface Quantiles {
  p50: number;
  p99: number;
  max: number;
}

function quantiles(values: number[]): Quantiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

export interface ScenarioFigures {
  pushes: number;
  deliveries: number;
  /** App/environment deploy requests the pushes made (fan-out per push, summed). */
  requested: number;
  /** Requests that got an execution of their own (the rest were duplicates or already live). */
  started: number;
  /** Push-to-StartExecution latency, simulated seconds. */
  latency: Quantiles;
  /**
   * Push-to-live latency of the executions that deployed (the push until RecordRelease has
   * written the release), simulated seconds: where the deploys queue at the write quota.
   */
  liveLatency: Quantiles;
  /**
   * The most attempts one execution made of each Task state that was retried (Retry budgets:
   * MaxAttempts + 1 attempts; 31 for the Record states, 6 for the others).
   */
  mostAttempts: Record<string, number>;
  /** Executions by how they ended. */
  outcomes: Record<string, number>;
  /** Deploys recorded per simulated minute: the sustained rate (busiest minute after the first). */
  deploysPerMinute: { sustained: number; perMinute: number[] };
  /** Throttled calls by API, which was throttled first, and which most. */
  throttled: Record<string, number>;
  firstThrottled?: string;
  mostThrottled?: string;
  /**
   * App/environments whose live release is older than their repository's newest push: pushed in
   * an earlier second than the newest. A lost or misordered request.
   */
  notNewest: string[];
  /**
   * App/environments live on a push made in the same second as their repository's newest, but
   * not on the newest itself. The ECR push event's `time` has one-second resolution (Amazon ECR
   * user guide, "Amazon ECR events and EventBridge": `"time": "2019-11-16T01:54:34Z"`) and is the
   * request time Gantry orders requests by (functions/src/image-push.ts `pushedAt`): two pushes of
   * one second tie, neither supersedes the other, and the one that takes the lock last stays live.
   * What a user observes (the events, the pushes' times to the second) cannot order them either.
   */
  tiedNewest: string[];
  /** Calls per deploy by API over the whole run (throttled attempts excluded). */
  perDeploy: Record<string, number>;
}

/** A small deterministic generator in [0, 1): the same scenario (and retry jitter) every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Pushes ramped from `startPerMinute` to `endPerMinute` over `minutes` simulated minutes, with
 * bursts and duplicate deliveries, against a seeded fleet; then waits for every execution to end.
 */
export async function runQuotaScenario(sandbox: Sandbox, options: ScenarioOptions): Promise<ScenarioFigures> {
  const repositories = await seedFleet(sandbox, options);
  const { emulator } = sandbox;
  await sandbox.idle();
  const from = emulator.calls.length;
  const next = seededRandom(11);
  const startedAt = new Map<string, number>();
  // When each execution started, on the simulated clock (StartExecution is the runner's hook).
  const runner = sandbox.stepFunctions;
  const start = runner.startExecution.bind(runner);
  runner.startExecution = (request) => {
    const started = start(request);
    startedAt.set(started.executionArn, emulator.clock.nominalNow());
    return started;
  };
  // Each Task attempt, by execution and state; ReleaseLock follows a successful RecordRelease.
  const attempts = new Map<string, Map<string, number>>();
  const releasedAt = new Map<string, number>();
  runner.hooks.observe = ({ executionArn, state }) => {
    const byState = attempts.get(executionArn) ?? new Map<string, number>();
    attempts.set(executionArn, byState);
    byState.set(state, (byState.get(state) ?? 0) + 1);
    if (state === 'ReleaseLock' && !releasedAt.has(executionArn))
      releasedAt.set(executionArn, emulator.clock.nominalNow());
  };
  const pushedAt = new Map<string, number>();
  /** Each repository's newest push, and the second (the push event's `time`) of every push. */
  const newest = new Map<string, string>();
  const pushSecond = new Map<string, number>();
  let pushes = 0;
  let deliveries = 0;
  const inFlight: Promise<unknown>[] = [];
  const pushOne = (repository: string) => {
    pushes++;
    const tag = `v1.${Math.floor(pushes / 1000)}.${pushes % 1000}`;
    const image = emulator.ecr.putImage({ repository, tag });
    pushedAt.set(image.digest, emulator.clock.nominalNow());
    pushSecond.set(image.digest, Math.floor(emulator.clock.now() / 1000));
    newest.set(repository, image.digest);
    const event = ecrPushEvent({
      region: emulator.region,
      accountId: emulator.accountId,
      repository,
      tag,
      digest: image.digest,
      time: emulator.clock.now(),
    });
    const copies = next() < options.duplicateShare ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      deliveries++;
      inFlight.push(sandbox.bus.publish(event));
    }
  };
  const pick = () => repositories[Math.floor(next() * repositories.length)] ?? '';
  for (let minute = 0; minute < options.minutes; minute++) {
    const rate =
      options.startPerMinute +
      ((options.endPerMinute - options.startPerMinute) * minute) / Math.max(1, options.minutes - 1);
    const count = Math.round(rate);
    for (let i = 0; i < count; i++) {
      emulator.clock.schedule(minute * 60_000 + (i * 60_000) / count, () => pushOne(pick()));
    }
    if (minute > 0) {
      for (let i = 0; i < options.burst; i++) {
        emulator.clock.schedule(minute * 60_000 + 30_000 + (i * 1000) / options.burst, () => pushOne(pick()));
      }
    }
  }
  // Deploys recorded so far, sampled each simulated minute until every execution has ended.
  const recordedBy: number[] = [];
  // Recorded: RecordRelease has written the release (its PutParameter succeeded) and the
  // execution has moved on; entering it is not enough, its writes queue at the quota.
  const recordedNow = () =>
    runner
      .listExecutions()
      .filter(
        (execution) =>
          execution.states.includes('RecordRelease') && execution.states.at(-1) !== 'RecordRelease',
      ).length;
  let sampling = true;
  const sample = () => {
    recordedBy.push(recordedNow());
    if (sampling) emulator.clock.schedule(60_000, sample);
  };
  emulator.clock.schedule(60_000, sample);
  await sandbox.elapse(options.minutes * 60);
  await Promise.all(inFlight);
  await sandbox.idle();
  sampling = false;
  recordedBy.push(recordedNow());
  runner.startExecution = start;
  runner.hooks.observe = undefined;

  const executions = runner.listExecutions().slice();
  const calls = emulator.calls.slice(from);
  const latencies: number[] = [];
  const liveLatencies: number[] = [];
  const outcomes: Record<string, number> = {};
  for (const execution of executions) {
    const input = JSON.parse(execution.input) as { image?: string };
    const digest = input.image?.split('@')[1];
    const pushed = digest === undefined ? undefined : pushedAt.get(digest);
    const started = startedAt.get(execution.executionArn);
    if (pushed !== undefined && started !== undefined) latencies.push((started - pushed) / 1000);
    const outcome = execution.error ?? (execution.states.at(-1) || execution.status);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    const live = releasedAt.get(execution.executionArn);
    if (outcome === 'Deployed' && pushed !== undefined && live !== undefined)
      liveLatencies.push((live - pushed) / 1000);
  }
  const mostAttempts: Record<string, number> = {};
  for (const byState of attempts.values()) {
    for (const [state, count] of byState) {
      if (count > 1) mostAttempts[state] = Math.max(mostAttempts[state] ?? 0, count);
    }
  }
  const perMinute = recordedBy.map((count, minute) => count - (recordedBy[minute - 1] ?? 0));
  const throttledCalls = calls.filter((call) => call.error === 'ThrottlingException');
  const notNewest: string[] = [];
  const tiedNewest: string[] = [];
  for (let i = 0; i < options.appEnvs; i++) {
    const repository = repositories[i % options.repositories] ?? '';
    const want = newest.get(repository);
    const live = sandbox.release(appName(i), 'prod')?.digest;
    if (want === undefined || live === want) continue;
    const tied = live !== undefined && pushSecond.get(live) === pushSecond.get(want);
    (tied ? tiedNewest : notNewest).push(appName(i));
  }
  const throttled = countByApi(throttledCalls);
  const [mostThrottled] = Object.entries(throttled).sort(([, a], [, b]) => b - a)[0] ?? [];
  const deploys = outcomes.Deployed ?? executions.length;
  const succeeded = calls.filter((call) => call.error !== 'ThrottlingException');
  return {
    pushes,
    deliveries,
    requested: [...pushedAt.keys()].length * (options.appEnvs / options.repositories),
    started: executions.length,
    latency: quantiles(latencies),
    liveLatency: quantiles(liveLatencies),
    mostAttempts,
    outcomes,
    deploysPerMinute: {
      sustained: Math.max(0, ...perMinute.slice(1)),
      perMinute,
    },
    throttled,
    ...(throttledCalls[0] && { firstThrottled: apiOf(throttledCalls[0]) }),
    ...(mostThrottled && { mostThrottled }),
    notNewest,
    tiedNewest,
    perDeploy: Object.fromEntries(
      Object.entries(countByApi(succeeded)).map(([api, count]) => [
        api,
        Number((count / Math.max(1, deploys)).toFixed(2)),
      ]),
    ),
  };
}
