import type { TestProject } from 'vitest/node';
import { type DockerLab, type DockerLabInfo, startDockerLab } from './support/docker-lab.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    dockerLab: DockerLabInfo;
  }
}

let lab: DockerLab | undefined;

/**
 * Brings up the real Docker Engine, swarm and registry once for the whole run (see
 * support/docker-lab.ts): the swarm tests use the real engine, not a stand-in. Fails, naming the
 * command to run, when it cannot; it never skips.
 */
export async function setup(project: TestProject): Promise<void> {
  lab = await startDockerLab((line) => console.log(`docker lab: ${line}`));
  const { stop: _stop, ...info } = lab;
  project.provide('dockerLab', info);
}

export async function teardown(): Promise<void> {
  await lab?.stop();
}
