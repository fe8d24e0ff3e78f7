import type { DeployConfig } from '../functions/src/config/schema.ts';
import { swarmParameters, swarmRolloutDetailType } from '../functions/src/swarm/contract.ts';
import { buildSwarmOrder } from '../functions/src/swarm/order.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';

export interface SwarmFigures {
  /** State transitions of a healthy swarm deploy, by how long its tasks take to start (simulated s). */
  transitions: { startSeconds: number; transitions: number; status: string }[];
  /** Real ms from the order parameter written to the agent writing the service spec, with the wake-up. */
  orderToUpdateMs: number;
  /** The same without a wake-up message: the agent's backstop pass finds the order. */
  orderToUpdateWithoutWakeUpMs: number;
  backstopSeconds: number;
  /** Real ms from the agent's final event reaching the bus to the execution's next state. */
  endToResumedMs: number;
}

const now = () => performance.now();

/** Polls `check` every 2 ms (real time) until it holds; the time it first held. */
async function when(what: string, check: () => boolean, timeoutMs = 60_000): Promise<number> {
  const deadline = now() + timeoutMs;
  while (!check()) {
    if (now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return now();
}

/**
 * The swarm target in the sandbox (simulated AWS, the real agent in process on the Docker Engine
 * API SIMULATOR): how fast the agent starts an order, how fast Gantry resumes, how many transitions.
 */
export async function measureSwarm(sandbox: Sandbox): Promise<SwarmFigures> {
  const transitions: SwarmFigures['transitions'] = [];
  for (const startSeconds of [3, 30]) {
    const app = `swarmt${startSeconds}`;
    await sandbox.seedSwarmApp({ app, env: 'prod', repository: app, services: [`${app}_web`] });
    const { digest } = await sandbox.push({
      repository: app,
      tag: 'v1.0.0',
      swarmScenario: { kind: 'healthy', startSeconds },
    });
    await sandbox.idle();
    const execution = sandbox.executionFor(digest);
    transitions.push({
      startSeconds,
      transitions: execution?.states.length ?? -1,
      status: execution?.status ?? 'none',
    });
  }

  // With the wake-up, and the end event → resumed.
  const app = 'swarmwake';
  const backstopSeconds = 5;
  await sandbox.seedSwarmApp({
    app,
    env: 'prod',
    repository: app,
    services: [`${app}_web`],
    agentBackstopSeconds: backstopSeconds,
  });
  const names = swarmParameters(sandbox.parameterPrefix, app, 'prod');
  type Inspected = { Spec?: { TaskTemplate?: { ContainerSpec?: { Image?: string } } } };
  const specImage = () => {
    const service = sandbox.docker?.swarm.inspectService(`${app}_web`) as Inspected | undefined;
    return service?.Spec?.TaskTemplate?.ContainerSpec?.Image ?? '';
  };
  let finalEventAt: number | undefined;
  sandbox.emulator.onEvent((event) => {
    const detail = event.detail as { app?: string; state?: string };
    if (
      event['detail-type'] === swarmRolloutDetailType &&
      detail.app === app &&
      detail.state === 'completed'
    ) {
      finalEventAt ??= now();
    }
  });
  const { digest } = await sandbox.push({ repository: app, tag: 'v1.0.0', swarmScenario: 'healthy' });
  const ordered = await when('the order', () =>
    (sandbox.emulator.ssm.get(names.order) ?? '').includes(digest),
  );
  const updated = await when('the service update', () => specImage().endsWith(digest));
  const resumed = await when(
    'the execution to resume',
    () => sandbox.executionFor(digest)?.states.includes('HealthGate?') === true,
  );
  await sandbox.idle();

  // Without the wake-up: the order alone, as if the message were lost; the backstop pass finds it.
  const config = JSON.parse(
    sandbox.emulator.ssm.get(`${sandbox.parameterPrefix}/${app}/prod/config`) ?? '{}',
  ) as DeployConfig;
  if (config.target.type !== 'swarm') throw new Error('bench: a swarm config is expected');
  const lost = sandbox.emulator.ecr.putImage({ repository: app, tag: 'v1.1.0' });
  const image = `${sandbox.emulator.accountId}.dkr.ecr.${sandbox.emulator.region}.amazonaws.com/${app}@${lost.digest}`;
  const order = buildSwarmOrder({
    app,
    env: 'prod',
    target: config.target,
    kind: 'deploy',
    executionArn: `arn:aws:states:${sandbox.emulator.region}:${sandbox.emulator.accountId}:execution:bench:lost-wake-up`,
    orderedAt: new Date(sandbox.emulator.clock.now()).toISOString(),
    services: [{ name: `${app}_web`, image }],
  });
  const written = now();
  sandbox.emulator.ssm.put(names.order, JSON.stringify(order));
  const applied = await when('the backstop pass', () => specImage() === image, (backstopSeconds + 30) * 1000);
  await sandbox.idle();

  return {
    transitions,
    orderToUpdateMs: updated - ordered,
    orderToUpdateWithoutWakeUpMs: applied - written,
    backstopSeconds,
    endToResumedMs: resumed - (finalEventAt ?? resumed),
  };
}
