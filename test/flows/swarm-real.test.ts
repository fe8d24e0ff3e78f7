import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { pushTestImage } from '../support/docker-lab.ts';
import { callsFor, executionsOf } from '../support/flows.ts';

/**
 * A push through the real deploy ASL and handlers (the sandbox: a simulation of the AWS side), the
 * real host agent in process, and a REAL Docker Engine in swarm mode with a password-protected
 * registry (the docker lab `npm test` brings up). Monitor and restart delays are seconds.
 */
describe('swarm target on a real Docker Engine', () => {
  const lab = inject('dockerLab');
  const app = `real${process.pid % 10_000}`;
  const repository = 'swarmflow';
  let sandbox: Sandbox;
  let docker: Docker;
  let images: { good: string; good2: string; crash: string };

  beforeAll(async () => {
    const tag = (name: string) => `${name}-${process.pid}`;
    const forever = 'while true; do sleep 1; done';
    // The same content pushed to another repository of the lab (the agent tests build identical
    // images) may come back under that repository's name: keep the digest, name this repository.
    const pinned = (image: string) => `${lab.registry}/${repository}@${image.slice(image.indexOf('@') + 1)}`;
    images = {
      good: pinned(await pushTestImage(lab, repository, tag('good'), { script: forever })),
      good2: pinned(await pushTestImage(lab, repository, tag('good2'), { script: `echo v2; ${forever}` })),
      crash: pinned(await pushTestImage(lab, repository, tag('crash'), { script: 'echo boom; exit 3' })),
    };
    // Simulated time runs 5x: the agent's own waits follow it, the engine's run in real time.
    sandbox = await startSandbox({ speed: 5 });
    sandbox.emulator.ecr.setAuthorization({ username: lab.registryUser, password: lab.registryPassword });
    docker = new Docker({ socketPath: lab.socketPath });
    await sandbox.seedSwarmApp({
      app,
      env: 'ci',
      repository,
      services: [`${app}_web`],
      engine: {
        docker,
        registry: lab.registry,
        initialImage: images.good,
        auth: { username: lab.registryUser, password: lab.registryPassword },
      },
      config: { health: { timeoutSeconds: 900, maxFailedTasks: 2 } },
    });
  }, 240_000);

  afterAll(async () => {
    await sandbox?.close();
  });

  const digestOf = (image: string) => image.slice(image.indexOf('@') + 1);

  async function runningImage(): Promise<string[]> {
    const tasks = await docker.listTasks({
      filters: { service: [`${app}_web`], 'desired-state': ['running'] },
    });
    return [
      ...new Set(
        tasks
          .filter((task) => task.Status?.State === 'running')
          .map((task) => task.Spec?.ContainerSpec?.Image ?? ''),
      ),
    ];
  }

  it('deploys a pushed image to the swarm and records the release', async () => {
    // Act
    await sandbox.push({ repository, tag: 'v2.0.0', digest: digestOf(images.good2) });
    await sandbox.idle();

    // Assess
    const [execution] = executionsOf(sandbox, app);
    expect(execution?.status).toBe('SUCCEEDED');
    expect(execution?.states.at(-1)).toBe('Deployed');
    expect(sandbox.release(app, 'ci')).toMatchObject({ kind: 'release', revision: images.good2 });
    expect(await runningImage()).toEqual([images.good2]);
  }, 180_000);

  it('records Swarm’s own rollback of a crash-looping image once, ordering no second rollback', async () => {
    // Act
    await sandbox.push({ repository, tag: 'v3.0.0', digest: digestOf(images.crash) });
    await sandbox.idle();

    // Assess
    const execution = executionsOf(sandbox, app).at(-1);
    expect(execution?.status).toBe('FAILED');
    expect(execution?.states.at(-1)).toBe('RolledBack');
    expect(sandbox.release(app, 'ci')).toMatchObject({
      kind: 'rollback',
      revision: images.good2,
      cause: { error: 'RolloutFailed', message: expect.stringContaining('Swarm rolled the update back') },
    });
    const orders = callsFor(sandbox, 'PutParameter', `/gantry/${app}/ci/order`).map(
      (call) => JSON.parse(String((call.input as { Value?: string }).Value)) as { kind: string },
    );
    expect(orders.map((order) => order.kind)).toEqual(['deploy', 'deploy']);
    expect(await runningImage()).toEqual([images.good2]);
  }, 180_000);
});
