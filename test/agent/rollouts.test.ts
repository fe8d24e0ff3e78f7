import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type Harness, pushAgentImages, startHarness } from './harness.ts';

/**
 * The agent on a real Docker Engine in swarm mode, with the sandbox emulator (a simulation) for
 * SSM, SQS, ECR and EventBridge: how each kind of rollout ends and what the agent reports.
 */
describe('the swarm agent rolling out on a real engine', () => {
  const lab = inject('dockerLab');
  let images: Awaited<ReturnType<typeof pushAgentImages>>;
  let h: Harness;

  beforeAll(async () => {
    images = await pushAgentImages(lab);
  }, 120_000);
  beforeEach(async () => {
    h = await startHarness(lab);
  });
  afterEach(async () => {
    await h.close();
  });

  it('completes a healthy update and reports accepted, updating, completed', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.good2 }]);

    // Act
    await h.publish(order);
    const status = await h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('completed');
    expect(status.services[0]?.runningImages).toEqual([images.good2]);
    expect(h.reports(order.deploymentId).map((r) => r.state)).toEqual(['accepted', 'updating', 'completed']);
  }, 60_000);

  it('reports rollback_completed with the failed tasks when Swarm rolls a crash-looping image back', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.crash }]);

    // Act
    await h.publish(order);
    const status = await h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(status.services[0]?.specImage).toBe(images.good);
    expect(status.services[0]?.runningImages).toEqual([images.good]);
    expect(status.services[0]?.failedTasks).toContainEqual(
      expect.objectContaining({ image: images.crash, exitCode: 3 }),
    );
  }, 60_000);

  it('rolls back an image that starts but fails its HEALTHCHECK', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.unhealthy }]);

    // Act
    await h.publish(order);
    const status = await h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(status.services[0]?.runningImages).toEqual([images.good]);
    expect(JSON.stringify(status.services[0]?.failedTasks)).toMatch(/health/i);
  }, 60_000);

  it('rolls back an unpullable image and reports the pull error', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.missing }]);

    // Act
    await h.publish(order);
    const status = await h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(status.services[0]?.runningImages).toEqual([images.good]);
    expect(status.reason).toMatch(/no such image|not found|manifest unknown|pull/i);
  }, 60_000);

  it('reports the order as not completed when one of two services fails', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    const worker = await h.createService('worker', images.good);
    h.startAgent(h.config());
    const order = h.order([
      { name: web, image: images.good2 },
      { name: worker, image: images.crash },
    ]);

    // Act
    await h.publish(order);
    const status = await h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    const byName = Object.fromEntries(status.services.map((s) => [s.name, s]));
    expect(byName[web]?.runningImages).toEqual([images.good2]);
    expect(byName[worker]?.runningImages).toEqual([images.good]);
    expect(status.reason).toContain(worker);
  }, 60_000);
});
