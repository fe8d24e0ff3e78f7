import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { type DockerSimulator, startDockerSimulator } from '../../sandbox/docker/index.ts';
import type { ImageScenario } from '../../sandbox/docker/model.ts';

/**
 * The Docker Engine API simulator on its own: what the differential test cannot show against the
 * lab (scenarios the lab's images do not play, refusals, policies). Every wait is simulated time.
 */

const second = 1_000_000_000;
const registry = 'registry.test:5000';
const image = (name: string) => `${registry}/app/${name}@sha256:${name.padEnd(64, '0').slice(0, 64)}`;
const good = image('a1');
const bad = image('b2');

let sim: DockerSimulator;
let docker: Docker;

beforeEach(async () => {
  sim = await startDockerSimulator();
  docker = new Docker(sim.dockerode);
});

afterEach(async () => {
  await sim.close();
});

interface Overrides {
  readonly replicas?: number;
  readonly update?: Partial<Docker.UpdateConfig>;
}

function spec(img: string, overrides: Overrides = {}): Docker.ServiceSpec {
  return {
    Name: 'web',
    TaskTemplate: {
      ContainerSpec: { Image: img, StopGracePeriod: second },
      RestartPolicy: { Condition: 'on-failure', Delay: second },
    },
    Mode: { Replicated: { Replicas: overrides.replicas ?? 1 } },
    UpdateConfig: {
      Parallelism: 1,
      FailureAction: 'rollback',
      Monitor: 2 * second,
      Order: 'stop-first',
      ...overrides.update,
    },
    RollbackConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 2 * second, Order: 'stop-first' },
  };
}

async function until(check: () => Promise<boolean>, limitMs = 120_000): Promise<void> {
  const deadline = sim.clock.now() + limitMs;
  while (!(await check())) {
    if (sim.clock.now() > deadline) throw new Error(`condition not met within ${limitMs} simulated ms`);
    await sim.clock.advance(100);
  }
}

async function updateState(service: Docker.Service): Promise<string | undefined> {
  return (await service.inspect()).UpdateStatus?.State;
}

async function settled(service: Docker.Service): Promise<string | undefined> {
  await until(async () =>
    ['completed', 'paused', 'rollback_completed', 'rollback_paused'].includes(
      (await updateState(service)) ?? '',
    ),
  );
  return updateState(service);
}

async function tasksOf(service: Docker.Service) {
  return docker.listTasks({ filters: { service: [service.id] } });
}

async function deployed(first: string, second: string, overrides: Overrides = {}) {
  const service = docker.getService((await docker.createService(spec(first, overrides))).id);
  await until(async () => (await tasksOf(service)).every((t) => t.Status.State === 'running'));
  const { Version } = await service.inspect();
  await service.update({ ...spec(second, overrides), version: Version.Index });
  return service;
}

async function rejection(call: Promise<unknown>) {
  const error = (await call.then(
    () => new Error('the call succeeded'),
    (e: unknown) => e,
  )) as { statusCode?: number; json?: { message?: string } };
  return { status: error.statusCode, message: error.json?.message ?? '' };
}

describe('the Docker Engine API simulator', () => {
  describe('says what it is and refuses what it does not emulate', () => {
    it('answers ping and names itself a simulator in its version', async () => {
      const version = await docker.version();

      expect(String(await docker.ping())).toBe('OK');
      expect(version.ApiVersion).toBe('1.41');
      expect(version.Platform.Name).toMatch(/SIMULATOR/);
    });

    it('answers an endpoint it does not emulate with 501, never a silent success', async () => {
      const refused = await rejection(docker.listContainers());

      expect(refused).toEqual({
        status: 501,
        message: expect.stringMatching(/GET \/containers\/json is not emulated/),
      });
    });

    it('refuses a spec key whose behaviour it does not model, and creates nothing', async () => {
      const withNetworks = spec(good);
      (withNetworks.TaskTemplate as Record<string, unknown>).Networks = [{ Target: 'front' }];

      const refused = await rejection(docker.createService(withNetworks));

      expect(refused.status).toBe(501);
      expect(refused.message).toMatch(/Spec\.TaskTemplate\.Networks is not emulated/);
      expect(await docker.listServices()).toEqual([]);
    });

    it('refuses an API version newer than 1.41 as the engine does', async () => {
      const newer = new Docker({ ...sim.dockerode, version: 'v1.43' });

      const refused = await rejection(newer.listServices());

      expect(refused).toEqual({
        status: 400,
        message: 'client version 1.43 is too new. Maximum supported API version is 1.41',
      });
    });
  });

  describe('reaching it', () => {
    it('listens on a unix socket for new Docker({ socketPath })', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-docker-sim-'));
      const onSocket = await startDockerSimulator({ socketPath: join(dir, 'docker.sock') });
      onTestFinished(async () => {
        await onSocket.close();
        await rm(dir, { recursive: true, force: true });
      });

      const viaSocket = new Docker(onSocket.dockerode);

      expect(String(await viaSocket.ping())).toBe('OK');
      expect(onSocket.dockerHost).toBe(`unix://${join(dir, 'docker.sock')}`);
    });

    it('lists services by label, with running and desired task counts on status=true', async () => {
      await docker.createService({ ...spec(good), Labels: { 'gantry.app': 'shop' } });
      await docker.createService({ ...spec(good), Name: 'other' });
      await sim.clock.advance(5_000);

      const listed = await docker.listServices({ filters: { label: ['gantry.app=shop'] }, status: true });

      expect(listed.map((s) => s.Spec?.Name)).toEqual(['web']);
      expect(listed[0]?.ServiceStatus).toEqual({ RunningTasks: 1, DesiredTasks: 1 });
    });
  });

  describe('pulls', () => {
    it('rejects the task with No such image when the registry needs auth the service lacks', async () => {
      sim.swarm.requireRegistryAuth(registry, { username: 'ci', password: 'secret' });
      const service = docker.getService((await docker.createService(spec(good))).id);

      await until(async () => (await tasksOf(service)).some((t) => t.Status.State === 'rejected'));

      const [task] = await tasksOf(service);
      expect(task.Status).toMatchObject({
        State: 'rejected',
        Message: 'preparing',
        Err: `No such image: ${good}`,
      });
      expect(sim.swarm.daemonLog.join('\n')).toMatch(/no basic auth credentials/);
    });

    it('pulls from that registry with the credentials given at create', async () => {
      sim.swarm.requireRegistryAuth(registry, { username: 'ci', password: 'secret' });
      const auth = { username: 'ci', password: 'secret', serveraddress: registry };
      const service = docker.getService((await docker.createService(auth, spec(good))).id);

      await until(async () => (await tasksOf(service)).some((t) => t.Status.State === 'running'));

      expect(sim.swarm.daemonLog).toEqual([]);
    });

    it('keeps the credentials given at create when an update carries none', async () => {
      sim.swarm.requireRegistryAuth(registry, { username: 'ci', password: 'secret' });
      const auth = { username: 'ci', password: 'secret', serveraddress: registry };
      const service = docker.getService((await docker.createService(auth, spec(good))).id);
      await until(async () => (await tasksOf(service)).some((t) => t.Status.State === 'running'));
      const { Version } = await service.inspect();

      await service.update({ ...spec(image('e5')), version: Version.Index });

      expect(await settled(service)).toBe('completed');
      expect(sim.swarm.daemonLog).toEqual([]);
    });

    it('fails new tasks that pull with stored credentials once the registry rotated them (moby#36126)', async () => {
      sim.swarm.requireRegistryAuth(registry, { username: 'AWS', password: 'token-1' });
      const auth = { username: 'AWS', password: 'token-1', serveraddress: registry };
      const service = docker.getService((await docker.createService(auth, spec(good))).id);
      await until(async () => (await tasksOf(service)).some((t) => t.Status.State === 'running'));
      // An ECR token lasts 12 hours; the one stored in the service does not renew itself.
      sim.swarm.requireRegistryAuth(registry, { username: 'AWS', password: 'token-2' });
      const { Version } = await service.inspect();

      await service.update({ ...spec(image('g7')), version: Version.Index });

      expect(await settled(service)).toBe('rollback_completed');
      const rejected = (await tasksOf(service)).find((t) => t.Status.State === 'rejected');
      expect(rejected?.Status.Err).toBe(`No such image: ${image('g7')}`);
      expect(sim.swarm.daemonLog.join('\n')).toMatch(/no basic auth credentials/);
    });

    it('rolls back an update to an unpullable image, with the pull error in the daemon log', async () => {
      sim.swarm.setScenario(bad, 'unpullable');
      const service = await deployed(good, bad);

      expect(await settled(service)).toBe('rollback_completed');
      const rejected = (await tasksOf(service)).find((t) => t.Status.State === 'rejected');
      expect(rejected?.Status.Err).toBe(`No such image: ${bad}`);
      expect(sim.swarm.daemonLog.join('\n')).toMatch(/manifest unknown/);
    });
  });

  describe('update policies', () => {
    it('rolls back an image whose HEALTHCHECK never passes, its task failed with 137', async () => {
      sim.swarm.setScenario(bad, 'unhealthy');
      const service = await deployed(good, bad);

      expect(await settled(service)).toBe('rollback_completed');
      const failed = (await tasksOf(service)).find((t) => t.Status.State === 'failed');
      expect(failed?.Status).toMatchObject({
        Message: 'starting',
        Err: 'task: non-zero exit (137): dockerexec: unhealthy container',
        ContainerStatus: { ExitCode: 137 },
      });
    });

    it('pauses with the engine message when FailureAction is pause, leaving the new spec', async () => {
      sim.swarm.setScenario(bad, { kind: 'crashLoop', exitCode: 2 });
      const service = await deployed(good, bad, { update: { FailureAction: 'pause' } });

      expect(await settled(service)).toBe('paused');
      const inspected = await service.inspect();
      expect(inspected.UpdateStatus.Message).toMatch(
        /^update paused due to failure or early termination of task \w{25}$/,
      );
      expect(inspected.Spec.TaskTemplate.ContainerSpec.Image).toBe(bad);
    });

    it('completes despite failures when FailureAction is continue', async () => {
      sim.swarm.setScenario(bad, 'crashLoop');
      const service = await deployed(good, bad, { update: { FailureAction: 'continue', Monitor: second } });

      expect(await settled(service)).toBe('completed');
    });

    it.each([
      { ratio: 0, slotsReached: [1] },
      { ratio: 0.5, slotsReached: [1, 2] },
    ])('rolls back on the failure beyond MaxFailureRatio $ratio', async ({ ratio, slotsReached }) => {
      sim.swarm.setScenario(bad, { kind: 'crashLoop', runSeconds: 3 });
      const service = await deployed(good, bad, {
        replicas: 2,
        update: { Parallelism: 1, Delay: 5 * second, Monitor: 10 * second, MaxFailureRatio: ratio },
      });

      expect(await settled(service)).toBe('rollback_completed');
      // The first failure stops the update at ratio 0; at 0.5 the updater goes on to slot 2.
      const failed = (await tasksOf(service)).filter((t) => t.Status.State === 'failed');
      expect([...new Set(failed.map((t) => t.Slot))].sort()).toEqual(slotsReached);
    });

    it('updates Parallelism slots at a time, Delay apart, then monitors before completing', async () => {
      const service = await deployed(good, image('c3'), {
        replicas: 3,
        update: { Delay: 10 * second, Monitor: 5 * second },
      });
      const started = sim.clock.now();

      expect(await settled(service)).toBe('completed');

      // 3 slots: each stop (1 s grace) and start (~1.3 s), 2 delays of 10 s between them, 5 s of monitoring.
      expect(sim.clock.now() - started).toBeGreaterThanOrEqual(3 * 2_000 + 2 * 10_000 + 5_000);
      const running = (await tasksOf(service)).filter((t) => t.Status.State === 'running');
      expect(running.map((t) => t.Spec.ContainerSpec.Image)).toEqual([image('c3'), image('c3'), image('c3')]);
    });

    it('starts the new task before stopping the old one with Order start-first', async () => {
      const service = await deployed(good, image('d4'), {
        update: { Order: 'start-first', Monitor: second },
      });
      let bothRan = false;

      await until(async () => {
        const running = (await tasksOf(service)).filter((t) => t.Status.State === 'running');
        bothRan ||= running.length === 2;
        return (await updateState(service)) === 'completed';
      });

      expect(bothRan).toBe(true);
    });
  });

  describe('versions', () => {
    it('refuses an update with a stale version and changes nothing', async () => {
      const service = docker.getService((await docker.createService(spec(good))).id);
      const stale = (await service.inspect()).Version.Index;
      await service.update({ ...spec(image('f6')), version: stale });
      await settled(service);

      const refused = await rejection(service.update({ ...spec(bad), version: stale }));

      expect(refused).toEqual({
        status: 500,
        message: 'rpc error: code = Unknown desc = update out of sequence',
      });
      expect((await service.inspect()).Spec.TaskTemplate.ContainerSpec.Image).toBe(image('f6'));
    });
  });

  describe('restarts', () => {
    it('stops replacing a crashing task after MaxAttempts', async () => {
      sim.swarm.setScenario(bad, { kind: 'crashLoop', exitCode: 7 });
      const crashing = spec(bad);
      crashing.TaskTemplate = {
        ContainerSpec: { Image: bad },
        RestartPolicy: { Condition: 'on-failure', Delay: second, MaxAttempts: 2 },
      };
      const service = docker.getService((await docker.createService(crashing)).id);

      await sim.clock.advance(60_000);

      const tasks = await tasksOf(service);
      expect(tasks).toHaveLength(3);
      expect(tasks.every((t) => t.Status.Err === 'task: non-zero exit (7)')).toBe(true);
    });

    it('keeps the last 5 tasks of a slot, as the engine does by default', async () => {
      sim.swarm.setScenario(bad, 'crashLoop' satisfies ImageScenario);
      const service = docker.getService((await docker.createService(spec(bad))).id);

      await sim.clock.advance(120_000);

      expect(await tasksOf(service)).toHaveLength(5);
    });
  });
});
