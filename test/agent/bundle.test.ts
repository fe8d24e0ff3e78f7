import { type ChildProcess, spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { buildAgent } from '../../agent/build.ts';
import { type Harness, pushAgentImages, startHarness } from './harness.ts';

/**
 * The shipped artifact: the single-file bundle run as its own process, configured only by its
 * config file and the environment (the default credential chain, `AWS_ENDPOINT_URL` pointing the
 * SDK at the sandbox emulator, `DOCKER_HOST` at the lab's engine).
 */
describe('the agent bundle', () => {
  const lab = inject('dockerLab');
  let bundle = '';
  let h: Harness;
  let child: ChildProcess | undefined;
  const configPath = join(tmpdir(), `gantry-agent-bundle-${process.pid}.json`);

  beforeAll(async () => {
    bundle = (await buildAgent()).path;
  }, 60_000);
  beforeEach(async () => {
    h = await startHarness(lab);
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await rm(configPath, { force: true });
    await h.close();
  });

  it('runs as a process, applies an order, and stops cleanly on SIGTERM', async () => {
    // Prepare
    const { good, good2: next } = await pushAgentImages(lab);
    const web = await h.createService('web', good);
    await writeFile(configPath, JSON.stringify(h.config()));
    let output = '';
    child = spawn(process.execPath, [bundle, '--config', configPath], {
      env: {
        PATH: process.env.PATH,
        AWS_ENDPOINT_URL: h.emulator.url,
        AWS_REGION: h.emulator.region,
        AWS_ACCESS_KEY_ID: 'sandbox',
        AWS_SECRET_ACCESS_KEY: 'sandbox',
        DOCKER_HOST: `unix://${lab.socketPath}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const order = h.order([{ name: web, image: next }]);

    // Act
    await h.publish(order);
    const status = await h.finalStatus(order.deploymentId);
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');

    // Assess
    expect(status.state).toBe('completed');
    expect(await exited).toBe(0);
    expect(output).toContain('"reported completed"');
  }, 60_000);
});
