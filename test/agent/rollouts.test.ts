import { describe, expect, it } from 'vitest';
import { useAgentHarness } from './harness.ts';

/**
 * The agent on a real Docker Engine in swarm mode, with the sandbox emulator (a simulation) for
 * SSM, SQS, ECR and EventBridge: how each kind of rollout ends and what the agent reports.
 */
describe('the swarm agent rolling out on a real engine', () => {
  const t = useAgentHarness();

  it('completes a healthy update and reports accepted, updating, completed', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.good2 }]);

    // Act
    await t.h.publish(order);
    const status = await t.h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('completed');
    expect(status.services[0]?.runningImages).toEqual([t.images.good2]);
    expect(t.h.reports(order.deploymentId).map((r) => r.state)).toEqual([
      'accepted',
      'updating',
      'completed',
    ]);
  }, 60_000);

  it('reports rollback_completed with the failed tasks when Swarm rolls a crash-looping image back', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.crash }]);

    // Act
    await t.h.publish(order);
    const status = await t.h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(status.services[0]?.specImage).toBe(t.images.good);
    expect(status.services[0]?.runningImages).toEqual([t.images.good]);
    expect(status.services[0]?.failedTasks).toContainEqual(
      expect.objectContaining({ image: t.images.crash, exitCode: 3 }),
    );
  }, 60_000);

  it('rolls back an image that starts but fails its HEALTHCHECK', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.unhealthy }]);

    // Act
    await t.h.publish(order);
    const status = await t.h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(status.services[0]?.runningImages).toEqual([t.images.good]);
    expect(JSON.stringify(status.services[0]?.failedTasks)).toMatch(/health/i);
  }, 60_000);

  it('rolls back an unpullable image and reports the pull error', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.missing }]);

    // Act
    await t.h.publish(order);
    const status = await t.h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(status.services[0]?.runningImages).toEqual([t.images.good]);
    expect(status.reason).toMatch(/no such image|not found|manifest unknown|pull/i);
  }, 60_000);

  it('reports the order as not completed when one of two services fails', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    const worker = await t.h.createService('worker', t.images.good);
    t.h.startAgent(t.h.config());
    const order = t.h.order([
      { name: web, image: t.images.good2 },
      { name: worker, image: t.images.crash },
    ]);

    // Act
    await t.h.publish(order);
    const status = await t.h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    const byName = Object.fromEntries(status.services.map((s) => [s.name, s]));
    expect(byName[web]?.runningImages).toEqual([t.images.good2]);
    expect(byName[worker]?.runningImages).toEqual([t.images.good]);
    expect(status.reason).toContain(worker);
  }, 60_000);
});
