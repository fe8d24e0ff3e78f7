import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DockerSimulator, startDockerSimulator } from '../../sandbox/docker/index.ts';
import { pushTestImage } from '../support/docker-lab.ts';

/**
 * The Docker Engine API simulator held to the real engine: the same scripted sequences run
 * against the lab's Docker Engine (swarm mode, registry with auth) and against the simulator, and
 * their normalised results must be equal. What is compared: the sequence of `UpdateStatus.State`
 * seen while polling, the spec's image, the images of tasks that stay running, the error and exit
 * code of every task that failed, and the status and message of refused calls. What is not: ids,
 * version indexes, timestamps, timings (the README of sandbox/docker lists the differences left).
 */

type ImageName = 'good' | 'good2' | 'crash3' | 'crash4' | 'crash5Later';

interface Target {
  readonly docker: Docker;
  readonly images: Record<ImageName, string>;
  /** Lets `ms` of time pass, real or simulated. */
  readonly pause: (ms: number) => Promise<void>;
  /** Now, in the target's time (ms). */
  readonly now: () => number;
}

/** What one sequence observed, with everything that legitimately differs taken out. */
interface Observation {
  readonly states: string[];
  /** `UpdateStatus.Message`, task ids replaced by `<task>`. */
  readonly message: string | undefined;
  readonly specImage: string | undefined;
  readonly runningImages: string[];
  readonly failedTasks: string[];
}

const stopGrace = 1_000_000_000;
const second = 1_000_000_000;

function serviceSpec(
  name: string,
  image: string,
  options: { replicas?: number; restartDelay?: number; forceUpdate?: number } = {},
): Docker.ServiceSpec {
  return {
    Name: name,
    TaskTemplate: {
      ContainerSpec: { Image: image, StopGracePeriod: stopGrace },
      RestartPolicy: { Condition: 'on-failure', Delay: options.restartDelay ?? second / 2 },
      ...(options.forceUpdate === undefined ? {} : { ForceUpdate: options.forceUpdate }),
    },
    Mode: { Replicated: { Replicas: options.replicas ?? 1 } },
    UpdateConfig: {
      Parallelism: 1,
      FailureAction: 'rollback',
      Monitor: 2 * second,
      MaxFailureRatio: 0,
      Order: 'stop-first',
    },
    RollbackConfig: {
      Parallelism: 1,
      FailureAction: 'pause',
      Monitor: 2 * second,
      MaxFailureRatio: 0,
      Order: 'stop-first',
    },
  };
}

const finalStates = ['completed', 'paused', 'rollback_completed', 'rollback_paused'];

/** Runs one scripted sequence against a target and normalises what it saw. */
class Script {
  readonly #target: Target;
  readonly #auth: Docker.AuthConfig;
  readonly #labels: Map<string, string>;

  /** Lets time pass until `check` holds, checking every 200 ms. */
  async until(check: () => Promise<boolean>, limitMs: number): Promise<void> {
    const deadline = this.#target.now() + limitMs;
    while (!(await check())) {
      if (this.#target.now() > deadline) throw new Error(`condition not met within ${limitMs} ms`);
      await this.#target.pause(200);
    }
  }

  constructor(target: Target, auth: Docker.AuthConfig) {
    this.#target = target;
    this.#auth = auth;
    this.#labels = new Map(Object.entries(target.images).map(([label, image]) => [image, label]));
  }

  label(image: string | undefined): string | undefined {
    return image === undefined ? undefined : (this.#labels.get(image) ?? image);
  }

  async create(spec: Docker.ServiceSpec): Promise<Docker.Service> {
    const { id } = await this.#target.docker.createService(this.#auth, spec);
    const service = this.#target.docker.getService(id);
    return service;
  }

  /** Updates with the current version, then watches `UpdateStatus.State` until it is final. */
  async update(service: Docker.Service, spec: Docker.ServiceSpec, limitMs = 60_000): Promise<string[]> {
    const { Version } = await service.inspect();
    await service.update({ ...spec, version: Version.Index, authconfig: this.#auth });
    const states: string[] = [];
    await this.until(async () => {
      const state = (await service.inspect()).UpdateStatus?.State ?? 'none';
      if (states.at(-1) !== state) states.push(state);
      return finalStates.includes(state);
    }, limitMs);
    return normaliseStates(states);
  }

  /** Images of tasks that are running in two reads a moment apart (a crash loop's blips do not count). */
  async stableRunningImages(service: Docker.Service): Promise<string[]> {
    const read = async () => {
      const tasks = await this.#target.docker.listTasks({
        filters: { service: [service.id], 'desired-state': ['running'] },
      });
      return new Set(
        tasks.filter((task) => task.Status?.State === 'running').map((task) => task.Spec.ContainerSpec.Image),
      );
    };
    const first = await read();
    await this.#target.pause(500);
    const second = await read();
    return [...first]
      .filter((image) => second.has(image))
      .map((image) => this.label(image) ?? image)
      .sort();
  }

  async waitForRunning(service: Docker.Service, image: ImageName, limitMs = 30_000): Promise<void> {
    const wanted = this.#target.images[image];
    await this.until(async () => {
      const tasks = await this.#target.docker.listTasks({ filters: { service: [service.id] } });
      return tasks.some(
        (task) => task.Status?.State === 'running' && task.Spec.ContainerSpec.Image === wanted,
      );
    }, limitMs);
  }

  /** Error and exit code of every task that ended in failure, by image. */
  async failedTasks(service: Docker.Service): Promise<string[]> {
    const tasks = await this.#target.docker.listTasks({ filters: { service: [service.id] } });
    const seen = new Set<string>();
    for (const task of tasks) {
      if (task.Status?.State !== 'failed' && task.Status?.State !== 'rejected') continue;
      seen.add(
        `${this.label(task.Spec.ContainerSpec.Image)} ${task.Status.State} err=${task.Status.Err ?? '-'} exit=${
          task.Status.ContainerStatus?.ExitCode ?? '-'
        }`,
      );
    }
    return [...seen].sort();
  }

  async observe(service: Docker.Service, states: string[]): Promise<Observation> {
    // Failed tasks first: the engine keeps only the last 5 tasks of a slot.
    const failedTasks = await this.failedTasks(service);
    const inspected = await service.inspect();
    return {
      states,
      message: inspected.UpdateStatus?.Message?.replace(/\b[a-z0-9]{25}\b/g, '<task>'),
      specImage: this.label(inspected.Spec.TaskTemplate.ContainerSpec.Image),
      runningImages: await this.stableRunningImages(service),
      failedTasks,
    };
  }
}

/**
 * Consecutive duplicates are already gone. `none` (no UpdateStatus: the update was accepted but the
 * orchestrator has not picked it up yet) is dropped: whether a poll sees it is timing. So is a
 * `rollback_started` directly followed by `rollback_completed`: when the restart supervisor has
 * already put a task of the old spec in the slot, swarmkit completes the rollback at once, and
 * whether a poll catches that instant is a race (see sandbox/docker/README.md).
 */
function normaliseStates(states: string[]): string[] {
  const kept = states.filter((state) => state !== 'none');
  return kept.filter((state, i) => !(state === 'rollback_started' && kept[i + 1] === 'rollback_completed'));
}

interface Results {
  create: Observation;
  healthyUpdate: Observation;
  forceUpdate: Observation;
  stale: { status: number | undefined; message: string | undefined };
  crashRollback: Observation;
  rollbackPaused: Observation;
  notFound: { status: number | undefined; message: string | undefined };
  duplicate: { status: number | undefined; message: string | undefined };
}

async function refusal(
  call: Promise<unknown>,
): Promise<{ status: number | undefined; message: string | undefined }> {
  const error = (await call.then(
    () => new Error('the call succeeded'),
    (e: unknown) => e,
  )) as { statusCode?: number; json?: { message?: string } };
  return { status: error.statusCode, message: error.json?.message };
}

async function runScript(target: Target, auth: Docker.AuthConfig, prefix: string, parallel: boolean) {
  const script = new Script(target, auth);
  const names = { healthy: `${prefix}-healthy`, crash: `${prefix}-crash`, paused: `${prefix}-paused` };
  const results: Partial<Results> = {};

  const healthyChain = async () => {
    const service = await script.create(serviceSpec(names.healthy, target.images.good));
    await script.waitForRunning(service, 'good');
    results.create = await script.observe(
      service,
      normaliseStates([(await service.inspect()).UpdateStatus?.State ?? 'none']),
    );
    results.duplicate = await refusal(
      target.docker.createService(auth, serviceSpec(names.healthy, target.images.good)),
    );

    const healthy = await script.update(service, serviceSpec(names.healthy, target.images.good2));
    await script.waitForRunning(service, 'good2');
    results.healthyUpdate = await script.observe(service, healthy);

    const before = await service.inspect();
    const forced = await script.update(
      service,
      serviceSpec(names.healthy, target.images.good2, {
        forceUpdate: (before.Spec.TaskTemplate.ForceUpdate ?? 0) + 1,
      }),
    );
    await script.waitForRunning(service, 'good2');
    results.forceUpdate = await script.observe(service, forced);

    // The version read before the forced update is stale now.
    results.stale = await refusal(service.update({ ...before.Spec, version: before.Version.Index }));
  };

  const crashChain = async () => {
    const service = await script.create(serviceSpec(names.crash, target.images.good));
    await script.waitForRunning(service, 'good');
    const states = await script.update(service, serviceSpec(names.crash, target.images.crash3));
    await script.waitForRunning(service, 'good');
    results.crashRollback = await script.observe(service, states);
  };

  // The rollback itself fails: the old image crash-loops too, and RollbackConfig says pause. Two
  // replicas, one at a time, and an image that runs a second before exiting: when the first new
  // task exits, the second slot already runs the new image, so the rollback has a task to replace
  // whatever the race between updater and restart supervisor did in the first slot.
  const pausedChain = async () => {
    // Restarts 3 s apart, so the failed tasks of the update are still in the 5-task history.
    const spec = (image: string) =>
      serviceSpec(names.paused, image, { replicas: 2, restartDelay: 3 * second });
    const service = await script.create(spec(target.images.crash4));
    const states = await script.update(service, spec(target.images.crash5Later));
    results.rollbackPaused = await script.observe(service, states);
  };

  const chains = [healthyChain, crashChain, pausedChain];
  try {
    if (parallel) await Promise.all(chains.map((chain) => chain()));
    else for (const chain of chains) await chain();
    results.notFound = await refusal(target.docker.getService(`${prefix}-missing`).inspect());
    return results as Results;
  } finally {
    // Whatever happened, leave no service behind on the engine.
    for (const name of Object.values(names)) {
      await target.docker
        .getService(name)
        .remove()
        .catch(() => {});
    }
  }
}

describe('the Docker Engine API simulator against the real engine', () => {
  const lab = inject('dockerLab');
  const auth = { username: lab.registryUser, password: lab.registryPassword, serveraddress: lab.registry };
  let simulator: DockerSimulator | undefined;
  let engine: Results;
  let simulated: Results;

  beforeAll(async () => {
    const images: Record<ImageName, string> = {
      good: await pushTestImage(lab, 'diff', 'good', { script: 'while true; do sleep 1; done' }),
      good2: await pushTestImage(lab, 'diff', 'good2', { script: 'echo two; while true; do sleep 1; done' }),
      crash3: await pushTestImage(lab, 'diff', 'crash3', { script: 'exit 3' }),
      crash4: await pushTestImage(lab, 'diff', 'crash4', { script: 'exit 4' }),
      crash5Later: await pushTestImage(lab, 'diff', 'crash5later', { script: 'sleep 1; exit 5' }),
    };
    const real: Target = {
      docker: new Docker({ socketPath: lab.socketPath }),
      images,
      pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: () => Date.now(),
    };

    const sim = await startDockerSimulator();
    simulator = sim;
    // The same images, their behaviour told to the simulator as the images' scripts do it.
    sim.swarm.requireRegistryAuth(lab.registry, {
      username: lab.registryUser,
      password: lab.registryPassword,
    });
    sim.swarm.setScenario(images.crash3, { kind: 'crashLoop', exitCode: 3, runSeconds: 0 });
    sim.swarm.setScenario(images.crash4, { kind: 'crashLoop', exitCode: 4, runSeconds: 0 });
    sim.swarm.setScenario(images.crash5Later, { kind: 'crashLoop', exitCode: 5, runSeconds: 1 });
    const simTarget: Target = {
      docker: new Docker(sim.dockerode),
      images,
      pause: (ms) => sim.clock.advance(ms),
      now: () => sim.clock.now(),
    };

    const prefix = `gantry-diff-${process.pid}`;
    [engine, simulated] = await Promise.all([
      runScript(real, auth, prefix, true),
      runScript(simTarget, auth, prefix, false),
    ]);
  }, 150_000);

  afterAll(async () => {
    await simulator?.close();
  });

  it('creates a service that runs its image with no UpdateStatus', () => {
    expect(simulated.create).toEqual(engine.create);
    expect(engine.create).toEqual({
      states: [],
      specImage: 'good',
      runningImages: ['good'],
      failedTasks: [],
    });
  });

  it('refuses a second service of the same name alike', () => {
    expect(simulated.duplicate).toEqual(engine.duplicate);
    expect(engine.duplicate.status).toBe(409);
  });

  it('rolls a healthy update through updating to completed', () => {
    expect(simulated.healthyUpdate).toEqual(engine.healthyUpdate);
    expect(engine.healthyUpdate.states).toEqual(['updating', 'completed']);
  });

  it('replaces the tasks of an unchanged spec on ForceUpdate', () => {
    expect(simulated.forceUpdate).toEqual(engine.forceUpdate);
    expect(engine.forceUpdate.runningImages).toEqual(['good2']);
  });

  it('answers a stale version with 500 update out of sequence', () => {
    expect(simulated.stale).toEqual(engine.stale);
    expect(engine.stale).toEqual({
      status: 500,
      message: 'rpc error: code = Unknown desc = update out of sequence',
    });
  });

  it('rolls an update to a crash-looping image back to the old image', () => {
    expect(simulated.crashRollback).toEqual(engine.crashRollback);
    expect(engine.crashRollback.specImage).toBe('good');
  });

  it('pauses a rollback whose old image fails too, with the spec back on the old image', () => {
    expect(simulated.rollbackPaused).toEqual(engine.rollbackPaused);
    expect(engine.rollbackPaused.states.at(-1)).toBe('rollback_paused');
    expect(engine.rollbackPaused.message).toBe(
      'update paused due to failure or early termination of task <task>',
    );
  });

  it('answers an unknown service with 404 and the engine message', () => {
    expect(simulated.notFound).toEqual(engine.notFound);
  });
});
