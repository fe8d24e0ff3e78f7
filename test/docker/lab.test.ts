import Docker from 'dockerode';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pushTestImage, until } from '../support/docker-lab.ts';

/**
 * The engine facts the swarm target is built on, checked on the real engine every run, so a
 * Docker upgrade that changes them fails here first (../shared/TOOLCHAIN.md records them).
 */
describe('the Docker lab (real engine, swarm, registry with auth)', () => {
  const lab = inject('dockerLab');
  const engine = new Docker({ socketPath: lab.socketPath });
  const auth = { username: lab.registryUser, password: lab.registryPassword, serveraddress: lab.registry };
  const name = `gantry-lab-${process.pid}`;

  afterAll(async () => {
    await engine
      .getService(name)
      .remove()
      .catch(() => {});
  });

  it('refuses anonymous pulls: the registry enforces its password', async () => {
    const response = await fetch(`http://${lab.registry}/v2/_catalog`);
    expect(response.status).toBe(401);
  });

  it('runs a pinned image, then rolls an update to a crashing image back by itself', async () => {
    const good = await pushTestImage(lab, 'lab', 'good', { script: 'while true; do sleep 1; done' });
    const bad = await pushTestImage(lab, 'lab', 'bad', { script: 'exit 3' });
    expect(good).not.toBe(bad);

    const spec = (image: string): Docker.ServiceSpec => ({
      Name: name,
      TaskTemplate: {
        ContainerSpec: { Image: image },
        RestartPolicy: { Condition: 'on-failure', Delay: 500_000_000 },
      },
      Mode: { Replicated: { Replicas: 1 } },
      UpdateConfig: {
        FailureAction: 'rollback',
        Monitor: 3_000_000_000,
        Parallelism: 1,
        MaxFailureRatio: 0,
        Order: 'stop-first',
      },
      RollbackConfig: { FailureAction: 'pause', Monitor: 3_000_000_000, Parallelism: 1, Order: 'stop-first' },
    });
    const service = engine.getService((await engine.createService(auth, spec(good))).id);
    await until('the good image to run', async () => (await runningImages(engine, name)).includes(good));

    const { Version } = await service.inspect();
    await service.update({ ...spec(bad), version: Version.Index, authconfig: auth });
    await until(
      'the automatic rollback',
      async () => (await service.inspect()).UpdateStatus?.State === 'rollback_completed',
      120_000,
    );

    const after = await service.inspect();
    expect(after.Spec.TaskTemplate.ContainerSpec.Image).toBe(good);
    expect(after.UpdateStatus.Message).toMatch(/rollback/i);
  }, 180_000);
});

async function runningImages(engine: Docker, service: string): Promise<string[]> {
  const tasks = await engine.listTasks({ filters: { service: [service], 'desired-state': ['running'] } });
  return tasks
    .filter((task) => task.Status?.State === 'running')
    .map((task) => task.Spec.ContainerSpec.Image);
}
