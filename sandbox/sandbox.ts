import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import Docker from 'dockerode';
import { parse } from 'yaml';
import { SwarmAgent } from '../agent/src/agent.ts';
import { parseAgentConfig } from '../agent/src/config.ts';
import type { HandlerSettings } from '../functions/handlers/runtime.ts';
import type { DeployConfig } from '../functions/src/config/schema.ts';
import { partitionKey, sortKey, ttlAttribute } from '../functions/src/coordination/table.ts';
import type { ReleaseRecord } from '../functions/src/release.ts';
import type { SwarmTarget } from '../functions/src/swarm/config.ts';
import { swarmPolicySchema } from '../functions/src/swarm/contract.ts';
import {
  type Delivery,
  LocalEventBus,
  readEventRules,
  readScheduleRules,
  serverlessConfigPath,
} from './bus.ts';
import { asCaller } from './caller.ts';
import { type DockerSimulator, type ImageScenario, startDockerSimulator } from './docker/index.ts';
import { type CreateServiceInput, type Emulator, type Scenario, startEmulator } from './emulator/index.ts';
import { enforceStackRoles } from './iam.ts';
import {
  type ExecutionDescription,
  type LambdaHandler,
  LocalStepFunctions,
  lambdaContext,
  type StateProgress,
} from './runner.ts';
import { simulatedClientConfig } from './simulated-sdk.ts';

export interface SandboxOptions {
  /** Simulated milliseconds per real millisecond: 100 shows a 30 s rollout in 0.3 s. */
  speed?: number;
  region?: string;
  accountId?: string;
  /** Port on 127.0.0.1 (default 0: any free port); `serve` listens on a known one. */
  port?: number;
  onProgress?: (progress: StateProgress) => void;
  /**
   * Run serverless.yml's scheduled rules (the reconciler) on the simulated clock. Off by default:
   * flow tests that seed ECR by hand would otherwise see the reconciler deploy what they seeded.
   */
  schedules?: boolean;
  /**
   * `realtime` (default): simulated time runs `speed` times real time. `virtual`: the clock jumps to
   * its next timer whenever no work is under way (SimClock.startVirtual), so the sandbox's own CPU
   * cannot slow simulated time relative to the load, nor hide a quota; `speed` is then unused.
   * Virtual time also puts the SDK's retry backoff on the clock, and implies `retries: 'definition'`.
   */
  time?: 'realtime' | 'virtual';
  /**
   * `definition` (default): each state machine Retry waits the backoff the definition writes
   * (IntervalSeconds, BackoffRate, MaxDelaySeconds, full jitter) and each Wait state its seconds,
   * on the simulated clock. `short` (realtime only): every Retry waits a flat 2 simulated seconds
   * and every Wait 15, as the sandbox did before.
   */
  retries?: 'short' | 'definition';
  /** The draws of the retries' full jitter (default Math.random; seeded: a repeatable run). */
  random?: () => number;
}

export interface AppSeed {
  app: string;
  env: string;
  repository: string;
  /** The image the service runs before Gantry touches it. */
  initialTag?: string;
  desiredCount?: number;
  circuitBreaker?: { enable: boolean; rollback: boolean };
  /**
   * A blue/green, linear or canary strategy with its hooks (ECS `deploymentConfiguration`, as the
   * emulator's createService takes it); absent: a rolling service.
   */
  deploymentConfiguration?: CreateServiceInput['deploymentConfiguration'];
  /** Tag the service `gantry:managed` = `true`, which Gantry's roles require (default true). */
  managed?: boolean;
  config?: Partial<DeployConfig>;
  /** Seed the config parameter with this raw text instead (to show validation). */
  rawConfig?: string;
}

/** A swarm app/env: services on the Docker Engine API simulator, run by an in-process agent. */
export interface SwarmAppSeed {
  app: string;
  env: string;
  repository: string;
  /** The image the services run before Gantry touches them. */
  initialTag?: string;
  /** The stack's services (default `<app>_web`, `<app>_worker`). */
  services?: string[];
  /** Put a Lightsail load balancer in front of the host: the health gate then runs for `bakeSeconds`. */
  loadBalancer?: { bakeSeconds: number };
  config?: Partial<DeployConfig>;
  /** Run the host agent (default true); without it a test plays the agent's part itself. */
  agent?: boolean;
  /** The agent's backstop pass interval in real seconds (default its own, 300). */
  agentBackstopSeconds?: number;
  /**
   * A real Docker Engine (and its registry) instead of the simulator: the services are created
   * there from `initialImage` (pinned in `registry`, pulled with `auth`) and removed when the
   * sandbox closes. The emulator's GetAuthorizationToken must return the same credentials.
   */
  engine?: {
    docker: Docker;
    registry: string;
    initialImage: string;
    auth: { username: string; password: string };
  };
}

export interface Sandbox {
  readonly emulator: Emulator;
  readonly stepFunctions: LocalStepFunctions;
  readonly bus: LocalEventBus;
  /** The Gantry event bus's name: events Gantry acts on (Rollback Requested) are put there. */
  readonly gantryBus: string;
  readonly parameterPrefix: string;
  /** The coordination table's name in the emulator. */
  readonly coordinationTable: string;
  /**
   * SDK client settings for a caller outside the Lambdas (seeding, a test's own reads), with
   * `maxAttempts` for a caller that must outlast a quota: on a virtual clock its calls hold the
   * clock and its retries back off on it, as the Lambdas' do.
   */
  clientConfig(options?: { maxAttempts?: number }): object;
  seedApp(seed: AppSeed): { cluster: string; service: string };
  /**
   * Seeds a swarm target: its Lightsail host (tagged), wake-up queue, services on the Docker Engine
   * API SIMULATOR, and the host agent, in process, on the emulator's SSM, SQS, ECR and EventBridge.
   */
  seedSwarmApp(seed: SwarmAppSeed): Promise<{ services: string[]; queueName: string }>;
  /** The Docker Engine API simulator the swarm apps run on (started by the first seedSwarmApp). */
  readonly docker: DockerSimulator | undefined;
  /** Pushes an image to the emulated ECR and delivers the ECR push event, as EventBridge would. */
  push(input: {
    repository: string;
    tag: string;
    scenario?: Scenario;
    /** How the image behaves on the swarm (the Docker Engine API simulator's scenario). */
    swarmScenario?: ImageScenario;
    digest?: string;
  }): Promise<{ digest: string }>;
  /** The execution that deploys `digest` (its input names the digest), if one started. */
  executionFor(digest: string): ExecutionDescription | undefined;
  /** Fires serverless.yml's scheduled rule for `functionKey` now, as EventBridge would on its schedule. */
  runSchedule(functionKey: string): Promise<Delivery>;
  /** Starts a deploy execution as the console would. */
  startExecution(input: Record<string, unknown>, name?: string): string;
  /** Resolves once this much simulated time has passed. */
  elapse(seconds: number): Promise<void>;
  /** Resolves when no execution is running. */
  idle(): Promise<void>;
  release(app: string, env: string): ReleaseRecord | undefined;
  close(): Promise<void>;
}

/**
 * The sandbox: a SIMULATION of the AWS side of Gantry on loopback, for demos and tests. The real
 * handlers and the real ASL run; their real SDK clients reach the emulator through
 * the endpoint the sandbox injects, exactly as they would reach LocalStack. Nothing here deploys anything.
 *
 * The handlers are built by their factories with clients pointed at this sandbox's emulator (no
 * process-wide environment), so several sandboxes can run side by side in one process.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const speed = options.speed ?? 100;
  const region = options.region ?? 'eu-west-1';
  const accountId = options.accountId ?? '123456789012';
  const parameterPrefix = '/gantry';
  const emulator = await startEmulator({
    region,
    accountId,
    ...(options.port !== undefined && { port: options.port }),
  });
  // The stack serverless.yml would deploy as stage `sandbox`: its names are derived from this one.
  const stage = 'sandbox';
  const stackName = `gantry-${stage}`;
  const stateMachineArn = `arn:aws:states:${region}:${accountId}:stateMachine:${stackName}-deploy`;
  // The stack's CoordinationTable (serverless.yml), as the emulator holds it.
  const coordinationTable = `${stackName}-coordination`;
  emulator.dynamodb.createTable({ name: coordinationTable, partitionKey, sortKey, ttlAttribute });
  // Every call a function makes is checked against its role, as IAM would (sandbox/authorization.ts).
  enforceStackRoles(emulator, {
    region,
    account: accountId,
    stackName,
    stateMachineArn,
    parameterPrefix,
    coordinationTable,
  });

  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const virtual = options.time === 'virtual';
  // On a virtual clock the Lambdas' SDK clients back off on it and hold it while a call is in flight.
  const clientConfig = virtual
    ? simulatedClientConfig(emulator.clientConfig, emulator.clock, options.random)
    : emulator.clientConfig;
  const handlers = await importHandlers({
    client: clientConfig,
    parameterPrefix,
    coordinationTable,
    stateMachineArn,
    // Configs are seeded live: no cache, or a seed would wait a minute to show.
    configCacheSeconds: 0,
  });

  const realMsPerSimulatedSecond = 1000 / speed;
  // The state machine's own DynamoDB calls (service integrations), sent as Step Functions sends them.
  const dynamodb = new DynamoDBClient(clientConfig);
  const definitionRetries = virtual || options.retries !== 'short';
  const stepFunctions = new LocalStepFunctions({
    stateMachineArn,
    handlers,
    resources: { coordinationTable },
    integrations: {
      'dynamodb:deleteItem': async (request) => {
        const { $metadata: _, ...response } = await dynamodb.send(new DeleteItemCommand(request as never));
        return response;
      },
    },
    onStatusChange: (detail) =>
      emulator.events.emit({
        source: 'aws.states',
        detailType: 'Step Functions Execution Status Change',
        detail,
        resources: [detail.executionArn],
      }),
    startTimer: (seconds, onTimeout) => emulator.clock.schedule(seconds * 1000, onTimeout),
    retryDelayMs: 2 * realMsPerSimulatedSecond,
    waitMs: 15 * realMsPerSimulatedSecond,
    ...(definitionRetries && {
      clock: {
        sleep: (ms: number) => emulator.clock.sleep(ms),
        hold: () => emulator.clock.hold(),
        ...(options.random && { random: options.random }),
      },
    }),
    ...(options.onProgress && { onProgress: options.onProgress }),
  });
  emulator.sfn.setHandlers({
    startExecution: (input) => stepFunctions.startExecution(input),
    describeExecution: (arn) => stepFunctions.describeExecution(arn),
    getExecutionHistory: (arn) => stepFunctions.executionHistory(arn),
    sendTaskSuccess: (token, output) => stepFunctions.sendTaskSuccess(token, output),
    sendTaskFailure: (token, error, cause) => stepFunctions.sendTaskFailure(token, error, cause),
    sendTaskHeartbeat: (token) => stepFunctions.sendTaskHeartbeat(token),
    listExecutions: (arn) =>
      arn === stateMachineArn ? stepFunctions.listExecutions().reverse() : notThisStateMachine(arn),
    stopExecution: (arn, error, cause) => {
      stepFunctions.abortExecution(arn, { ...(error && { error }), ...(cause && { cause }) });
      return new Date();
    },
  });

  const bus = new LocalEventBus(
    readEventRules(serverlessConfigPath, stage),
    Object.fromEntries(
      Object.entries(handlers).map(([key, handler]) => [
        key,
        (event: unknown) => asCaller(key, () => handler(event as never, lambdaContext(key))),
      ]),
    ),
    (ms) => new Promise<void>((resolve) => emulator.clock.schedule(ms, resolve)),
  );
  // The Gantry bus (serverless.yml GantryEventBus): the swarm agent reports there.
  emulator.events.createBus(stackName);
  emulator.onEvent((event, onBus) => bus.publish(event, onBus).then(() => undefined));
  const scheduleRules = readScheduleRules(serverlessConfigPath, stage);
  const where = { account: accountId, region };
  const stopSchedules = options.schedules
    ? bus.startSchedules(scheduleRules, emulator.clock, where)
    : () => {};
  if (virtual) emulator.clock.startVirtual();
  else emulator.clock.startRealtime({ speed, tickMs: 10 });

  let docker: DockerSimulator | undefined;
  const agents: SwarmAgent[] = [];
  /** Services created on a real engine: removed when the sandbox closes. */
  const createdOnEngines: { docker: Docker; name: string }[] = [];
  const agentClients = {
    ssm: new SSMClient(emulator.clientConfig),
    sqs: new SQSClient(emulator.clientConfig),
    ecr: new ECRClient(emulator.clientConfig),
    events: new EventBridgeClient(emulator.clientConfig),
  };
  const ecrHost = `${accountId}.dkr.ecr.${region}.amazonaws.com`;

  return {
    emulator,
    stepFunctions,
    bus,
    get docker() {
      return docker;
    },
    // serverless.yml names the Gantry bus after the stack.
    gantryBus: stackName,
    parameterPrefix,
    coordinationTable,
    clientConfig: ({ maxAttempts } = {}) =>
      virtual
        ? simulatedClientConfig(emulator.clientConfig, emulator.clock, options.random, maxAttempts)
        : {
            ...emulator.clientConfig,
            retryMode: 'adaptive',
            ...(maxAttempts !== undefined && { maxAttempts }),
          },
    seedApp(seed) {
      const cluster = seed.env;
      const service = seed.app;
      const initial = emulator.ecr.putImage({
        repository: seed.repository,
        tag: seed.initialTag ?? 'v0.0.0',
      });
      emulator.ecs.createService({
        cluster,
        service,
        desiredCount: seed.desiredCount ?? 2,
        ...(seed.circuitBreaker && { circuitBreaker: seed.circuitBreaker }),
        ...(seed.deploymentConfiguration && { deploymentConfiguration: seed.deploymentConfiguration }),
        // The tag that marks services Gantry may deploy (managedServiceTag in functions/src/ecs/deploy.ts).
        ...(seed.managed !== false && { tags: [{ key: 'gantry:managed', value: 'true' }] }),
        taskDefinition: {
          family: `${seed.app}-${seed.env}`,
          networkMode: 'awsvpc',
          requiresCompatibilities: ['FARGATE'],
          cpu: '256',
          memory: '512',
          executionRoleArn: `arn:aws:iam::${accountId}:role/${seed.app}-execution`,
          runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
          containerDefinitions: [
            {
              name: 'app',
              image: `${accountId}.dkr.ecr.${region}.amazonaws.com/${seed.repository}@${initial.digest}`,
              essential: true,
              portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
              secrets: [
                {
                  name: 'DATABASE_URL',
                  valueFrom: `arn:aws:ssm:${region}:${accountId}:parameter/${seed.app}/db-url`,
                },
              ],
            },
            {
              name: 'log-router',
              image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable',
              essential: false,
            },
          ],
        },
      });
      const config: DeployConfig = {
        repository: seed.repository,
        tagPattern: '^v\\d+\\.\\d+\\.\\d+$',
        target: { type: 'ecs', cluster, service, container: 'app' },
        health: { timeoutSeconds: 600, maxFailedTasks: 2 },
        rollbackAlarms: [],
        ...seed.config,
      };
      emulator.ssm.put(
        `${parameterPrefix}/${seed.app}/${seed.env}/config`,
        seed.rawConfig ?? JSON.stringify(config),
      );
      return { cluster, service };
    },
    async seedSwarmApp(seed) {
      const real = seed.engine;
      if (real === undefined) docker ??= await startDockerSimulator({ clock: emulator.clock });
      const engine = real?.docker ?? new Docker((docker as DockerSimulator).dockerode);
      const registry = real?.registry ?? ecrHost;
      const services = seed.services ?? [`${seed.app}_web`, `${seed.app}_worker`];
      const queueName = `gantry-swarm-${seed.app}-${seed.env}`;
      const queueUrl = emulator.sqs.createQueue(queueName);
      const host = `${seed.app}-${seed.env}-manager`;
      const tag = { key: 'gantry:swarm', value: `${seed.app}-${seed.env}` };
      emulator.lightsail.putInstance({ name: host, tags: { [tag.key]: tag.value } });
      const loadBalancerName = `${seed.app}-${seed.env}-lb`;
      if (seed.loadBalancer) {
        emulator.lightsail.putLoadBalancer({ name: loadBalancerName, instances: [{ name: host }] });
      }
      const initial = emulator.ecr.putImage({
        repository: seed.repository,
        tag: seed.initialTag ?? 'v0.0.0',
        ...(real && { digest: real.initialImage.slice(real.initialImage.indexOf('@') + 1) }),
      });
      for (const name of services) {
        const spec = {
          Name: name,
          TaskTemplate: {
            ContainerSpec: {
              Image: `${registry}/${seed.repository}@${initial.digest}`,
              StopGracePeriod: 1_000_000_000,
            },
            RestartPolicy: { Condition: 'on-failure', Delay: 1_000_000_000 },
          },
          Mode: { Replicated: { Replicas: real ? 1 : 2 } },
        };
        // The real engine pulls from the lab's registry, which wants a password.
        if (real) await engine.createService({ ...real.auth, serveraddress: registry }, spec);
        else await engine.createService(spec);
        if (real) createdOnEngines.push({ docker: engine, name });
      }
      const target: SwarmTarget = {
        type: 'swarm',
        queueName,
        services: services.map((name) => ({ name })),
        ...(real && { registry }),
        lightsail: {
          instanceTag: tag,
          ...(seed.loadBalancer && {
            loadBalancer: { name: loadBalancerName, bakeSeconds: seed.loadBalancer.bakeSeconds },
          }),
        },
        // Seconds, so Swarm's own rollback shows within a demo; rollback failures `continue`.
        policy: swarmPolicySchema.parse({
          update: { monitorSeconds: 5, failureAction: 'rollback' },
          rollback: { monitorSeconds: 5, failureAction: 'continue' },
        }),
      };
      const config: DeployConfig = {
        repository: seed.repository,
        tagPattern: '^v\\d+\\.\\d+\\.\\d+$',
        target,
        health: { timeoutSeconds: 600, maxFailedTasks: 2 },
        rollbackAlarms: [],
        ...seed.config,
      };
      emulator.ssm.put(`${parameterPrefix}/${seed.app}/${seed.env}/config`, JSON.stringify(config));
      if (seed.agent === false) return { services, queueName };
      const agent = new SwarmAgent(
        parseAgentConfig({
          parameterPrefix,
          queueUrl,
          // On AWS too the agent reports on the Gantry bus, whose rule starts onSwarmEvent.
          eventBusName: stackName,
          targets: [{ app: seed.app, env: seed.env, services }],
          registries: [{ registry, repositories: [seed.repository], auth: 'ecr' }],
          watchIntervalMs: 100,
          ...(seed.agentBackstopSeconds !== undefined && { backstopSeconds: seed.agentBackstopSeconds }),
        }),
        {
          ...agentClients,
          docker: engine,
          agentName: host,
          // The agent's own deadlines (its settle wait after a rollback) follow the simulated clock.
          now: () => emulator.clock.now(),
          log: () => {},
        },
      );
      agents.push(agent);
      agent.start();
      return { services, queueName };
    },
    async push({ repository, tag, scenario, swarmScenario, digest }) {
      const image = emulator.ecr.putImage({ repository, tag, ...(digest && { digest }) });
      if (scenario) emulator.ecs.setScenario(image.digest, scenario);
      if (swarmScenario) {
        docker ??= await startDockerSimulator({ clock: emulator.clock });
        docker.swarm.setScenario(image.digest, swarmScenario);
      }
      await bus.publish(
        ecrPushEvent({
          region,
          accountId,
          repository,
          tag,
          digest: image.digest,
          time: emulator.clock.now(),
        }),
      );
      return { digest: image.digest };
    },
    executionFor: (digest) =>
      stepFunctions.listExecutions().find((execution) => execution.input.includes(digest)),
    runSchedule(functionKey) {
      const rule = scheduleRules.find((candidate) => candidate.functionKey === functionKey);
      if (!rule) throw new Error(`serverless.yml has no schedule for ${functionKey}`);
      return bus.fireSchedule(rule, emulator.clock.now(), where);
    },
    startExecution(input, name) {
      return stepFunctions.startExecution({ ...(name && { name }), input: JSON.stringify(input) })
        .executionArn;
    },
    elapse: (seconds) =>
      new Promise<void>((resolve) => {
        emulator.clock.schedule(seconds * 1000, resolve);
      }),
    async idle() {
      await emulator.settled();
      await stepFunctions.idle();
      // Events put by the last steps are delivered on the clock's next tick.
      await new Promise<void>((resolve) => emulator.clock.schedule(0, resolve));
      await emulator.settled();
    },
    release(app, env) {
      const stored = emulator.ssm.get(`${parameterPrefix}/${app}/${env}/release`);
      return stored ? (JSON.parse(stored) as ReleaseRecord) : undefined;
    },
    async close() {
      stopSchedules();
      await Promise.all(agents.map((agent) => agent.stop()));
      for (const { docker: engine, name } of createdOnEngines) {
        await engine
          .getService(name)
          .remove()
          .catch(() => {});
      }
      for (const client of Object.values(agentClients)) client.destroy();
      await docker?.close();
      await emulator.close();
    },
  };
}

function notThisStateMachine(arn: string): never {
  throw Object.assign(new Error(`State Machine Does Not Exist: '${arn}'`), {
    name: 'StateMachineDoesNotExist',
  });
}

/**
 * Every function in serverless.yml, imported from the handler path it declares there and built by
 * its factory (`create…Handler`) from its `awsDefaults(settings)`, with this sandbox's settings.
 */
async function importHandlers(settings: HandlerSettings): Promise<Record<string, LambdaHandler>> {
  const config = parse(readFileSync(serverlessConfigPath, 'utf8')) as {
    functions: Record<string, { handler: string }>;
  };
  const entries = await Promise.all(
    Object.entries(config.functions).map(async ([key, { handler }]) => {
      const dot = handler.lastIndexOf('.');
      const module = (await import(
        new URL(`../${handler.slice(0, dot)}.ts`, import.meta.url).href
      )) as Record<string, unknown>;
      const factories = Object.keys(module).filter((name) => /^create\w+Handler$/.test(name));
      const [factory] = factories;
      const defaults = module.awsDefaults;
      if (factories.length !== 1 || !factory || typeof defaults !== 'function') {
        throw new Error(`${handler} must export one create…Handler factory and its awsDefaults`);
      }
      const create = module[factory] as (deps: unknown) => LambdaHandler;
      return [key, create(defaults(settings))] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** An ECR push event shaped like events/ecr-image-push.json. */
export function ecrPushEvent(input: {
  region: string;
  accountId: string;
  repository: string;
  tag: string;
  digest: string;
  time: number;
}) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: input.accountId,
    time: new Date(input.time).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: input.region,
    resources: [],
    detail: {
      result: 'SUCCESS',
      'repository-name': input.repository,
      'image-digest': input.digest,
      'action-type': 'PUSH',
      'image-tag': input.tag,
      'manifest-media-type': 'application/vnd.oci.image.manifest.v1+json',
    },
  };
}
