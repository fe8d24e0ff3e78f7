/**
 * What the agent's real-engine tests share: the sandbox emulator (a simulation of SSM, SQS, ECR
 * and EventBridge) with its clock following real time, the docker lab's engine and registry, an
 * agent built on both, and services with unique names removed after each test.
 */
import { ECRClient } from '@aws-sdk/client-ecr';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import Docker from 'dockerode';
import { afterEach, beforeAll, beforeEach, inject } from 'vitest';
import { SwarmAgent } from '../../agent/src/agent.ts';
import { type AgentConfig, parseAgentConfig } from '../../agent/src/config.ts';
import {
  type SwarmOrder,
  type SwarmRolloutReport,
  swarmParameters,
  swarmRolloutDetailType,
} from '../../functions/src/swarm/contract.ts';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';
import { type DockerLabInfo, pushTestImage, until } from '../support/docker-lab.ts';

export const prefix = '/gantry';
let counter = 0;

/** Fast policy: seconds, so a rollback takes well under a minute. */
export const fastPolicy: SwarmOrder['policy'] = {
  update: {
    parallelism: 1,
    delaySeconds: 0,
    monitorSeconds: 2,
    maxFailureRatio: 0,
    order: 'stop-first',
    failureAction: 'rollback',
  },
  rollback: {
    parallelism: 1,
    delaySeconds: 0,
    monitorSeconds: 2,
    maxFailureRatio: 0,
    order: 'stop-first',
    failureAction: 'continue',
  },
};

/**
 * The images the agent tests run, built FROM scratch with busybox and pushed to the lab's
 * registry (real digests): running, running another version, crash-looping (exit 3), running but
 * failing its HEALTHCHECK, and one pinned to a digest the registry never stored (unpullable).
 */
export async function pushAgentImages(lab: DockerLabInfo) {
  const forever = 'while true; do sleep 1; done';
  // Tags of this worker: test files build in parallel, and two builds of one tag race.
  const tag = (name: string) => `${name}-${process.pid}`;
  return {
    good: await pushTestImage(lab, 'agent', tag('good'), { script: forever }),
    good2: await pushTestImage(lab, 'agent', tag('good2'), { script: `echo v2; ${forever}` }),
    crash: await pushTestImage(lab, 'agent', tag('crash'), { script: 'echo boom; exit 3' }),
    unhealthy: await pushTestImage(lab, 'agent', tag('unhealthy'), {
      script: forever,
      healthcheck: 'exit 1',
    }),
    missing: `${lab.registry}/agent@sha256:${'0'.repeat(64)}`,
  };
}

/**
 * Registers a describe block's hooks: the agent images once, a fresh harness (emulator, queue,
 * unique services) per test, cleaned up after it. Read `t.h` and `t.images` inside tests.
 */
export function useAgentHarness(): { h: Harness; images: Awaited<ReturnType<typeof pushAgentImages>> } {
  const lab = inject('dockerLab');
  const t = {} as { h: Harness; images: Awaited<ReturnType<typeof pushAgentImages>> };
  beforeAll(async () => {
    t.images = await pushAgentImages(lab);
  }, 120_000);
  beforeEach(async () => {
    t.h = await startHarness(lab);
  });
  afterEach(async () => {
    await t.h.close();
  });
  return t;
}

export interface Harness {
  readonly emulator: Emulator;
  readonly docker: Docker;
  readonly app: string;
  readonly env: string;
  readonly params: ReturnType<typeof swarmParameters>;
  readonly queueUrl: string;
  readonly logs: string[];
  config(overrides?: Partial<AgentConfig>, services?: string[]): AgentConfig;
  /** Starts an agent; `now` replaces its clock (to age its ECR credentials). */
  startAgent(config: AgentConfig, now?: () => number): SwarmAgent;
  /** Creates a replicated service (1 task) on `image` and waits until it runs it. */
  createService(suffix: string, image: string): Promise<string>;
  order(services: { name: string; image: string }[], extra?: Partial<SwarmOrder>): SwarmOrder;
  /** Writes the order parameter; with `wake`, drops the wake-up message as the Lambda side does. */
  publish(order: unknown, options?: { wake?: boolean }): Promise<void>;
  status(): SwarmRolloutReport | undefined;
  /** Waits until the status parameter and the last event report a final state for this deployment. */
  finalStatus(deploymentId: string, timeoutMs?: number): Promise<SwarmRolloutReport>;
  /** Detail of every agent event for this deployment, in order. */
  reports(deploymentId: string): SwarmRolloutReport[];
  close(): Promise<void>;
}

export async function startHarness(lab: DockerLabInfo): Promise<Harness> {
  counter += 1;
  const id = `${process.pid}-${counter}`;
  const app = `agent${counter}`;
  const env = 'test';
  const emulator = await startEmulator();
  // Event delivery and SQS visibility run on the emulator's clock: let it follow real time.
  emulator.clock.startRealtime();
  emulator.ecr.setAuthorization({ username: lab.registryUser, password: lab.registryPassword });
  const queueUrl = emulator.sqs.createQueue(`swarm-${id}`);
  const docker = new Docker({ socketPath: lab.socketPath });
  const params = swarmParameters(prefix, app, env);
  const services: string[] = [];
  const agents: SwarmAgent[] = [];
  const clients = {
    ssm: new SSMClient(emulator.clientConfig),
    sqs: new SQSClient(emulator.clientConfig),
    ecr: new ECRClient(emulator.clientConfig),
    events: new EventBridgeClient(emulator.clientConfig),
  };
  const logs: string[] = [];
  const auth = { username: lab.registryUser, password: lab.registryPassword, serveraddress: lab.registry };

  const harness: Harness = {
    emulator,
    docker,
    app,
    env,
    params,
    queueUrl,
    logs,
    config: (overrides = {}, names = services) =>
      parseAgentConfig({
        parameterPrefix: prefix,
        queueUrl,
        // The emulator's PutEvents knows the default bus only; on AWS this is the Gantry bus.
        eventBusName: 'default',
        targets: [{ app, env, services: names }],
        registries: [{ registry: lab.registry, repositories: ['agent', 'agent-other'], auth: 'ecr' }],
        watchIntervalMs: 250,
        ...overrides,
      }),
    startAgent(config, now) {
      const agent = new SwarmAgent(config, {
        ...clients,
        docker,
        ...(now === undefined ? {} : { now }),
        agentName: 'test-agent',
        log: (entry) => logs.push(JSON.stringify(entry)),
      });
      agents.push(agent);
      agent.start();
      return agent;
    },
    async createService(suffix, image) {
      const name = `gantry-agent-${id}-${suffix}`;
      services.push(name);
      await docker.createService(auth, {
        Name: name,
        TaskTemplate: {
          ContainerSpec: { Image: image, StopGracePeriod: 1_000_000_000 },
          RestartPolicy: { Condition: 'on-failure', Delay: 500_000_000 },
        },
        Mode: { Replicated: { Replicas: 1 } },
      });
      await until(`${name} to run ${image}`, async () => {
        const tasks = await docker.listTasks({ filters: { service: [name], 'desired-state': ['running'] } });
        return tasks.some(
          (task) => task.Status?.State === 'running' && task.Spec?.ContainerSpec?.Image === image,
        );
      });
      return name;
    },
    order: (list, extra = {}) => ({
      schemaVersion: 1,
      app,
      env,
      deploymentId: `dep-${id}-${Math.random().toString(36).slice(2, 10)}`,
      kind: 'deploy',
      executionArn: `arn:aws:states:us-east-1:000000000000:execution:gantry-deploy:${id}`,
      orderedAt: new Date().toISOString(),
      services: list,
      force: false,
      policy: fastPolicy,
      ...extra,
    }),
    async publish(order, options = { wake: true }) {
      emulator.ssm.put(params.order, typeof order === 'string' ? order : JSON.stringify(order));
      if (options.wake !== false) {
        await clients.sqs.send(
          new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ app, env }) }),
        );
      }
    },
    status() {
      const raw = emulator.ssm.get(params.status);
      return raw === undefined ? undefined : (JSON.parse(raw) as SwarmRolloutReport);
    },
    async finalStatus(deploymentId, timeoutMs = 90_000) {
      const finals = ['completed', 'rollback_completed', 'rollback_paused', 'paused', 'failed', 'refused'];
      await until(
        `a final report for ${deploymentId}`,
        async () => {
          const status = harness.status();
          // The event too: the emulator delivers it on its next clock tick, as EventBridge does later.
          return (
            status?.deploymentId === deploymentId &&
            finals.includes(status.state) &&
            harness.reports(deploymentId).at(-1)?.state === status.state
          );
        },
        timeoutMs,
      );
      return harness.status() as SwarmRolloutReport;
    },
    reports: (deploymentId) =>
      emulator.events.history
        .filter((event) => event.source === 'gantry.agent' && event['detail-type'] === swarmRolloutDetailType)
        .map((event) => event.detail as SwarmRolloutReport)
        .filter((detail) => detail.deploymentId === deploymentId),
    async close() {
      await Promise.all(agents.map((agent) => agent.stop()));
      for (const name of services) {
        await docker
          .getService(name)
          .remove()
          .catch(() => {});
      }
      for (const client of Object.values(clients)) client.destroy();
      await emulator.close();
    },
  };
  return harness;
}

export { until };
