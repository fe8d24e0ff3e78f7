import { describe, expect, it } from 'vitest';
import { until, useAgentHarness } from './harness.ts';

/**
 * The agent's own life on a real engine, with the sandbox emulator (a simulation) for AWS:
 * restarts, repeated and lost wake-ups, the environment, refusals and registry credentials.
 */
describe('the swarm agent across wake-ups and restarts', () => {
  const t = useAgentHarness();

  const updates = () => t.h.logs.filter((line) => line.includes('"service updated"')).length;

  it('resumes watching after being stopped mid-update and reports the end, without writing the spec again', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    const first = t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.crash }]);
    await t.h.publish(order);
    await until('the update to start', async () => t.h.status()?.state === 'updating');

    // Act
    await first.stop();
    t.h.startAgent(t.h.config());
    const status = await t.h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(t.h.reports(order.deploymentId).map((r) => r.state)).toEqual([
      'accepted',
      'updating',
      'rollback_completed',
    ]);
    expect(updates()).toBe(1);
    expect(t.h.logs.some((line) => line.includes('resuming an unfinished order'))).toBe(true);
  }, 60_000);

  it('applies an order once when it is read again (duplicate wake-up, restarted agent)', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    const first = t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.good2 }]);
    await t.h.publish(order);
    await t.h.finalStatus(order.deploymentId);
    const tasksBefore = await t.h.docker.listTasks({ filters: { service: [web] } });

    // Act
    await t.h.publish(order, { wake: false });
    await first.pass('wake-up');
    await first.stop();
    const second = t.h.startAgent(t.h.config());
    await second.pass('wake-up');

    // Assess
    expect(updates()).toBe(1);
    expect(t.h.reports(order.deploymentId).map((r) => r.state)).toEqual([
      'accepted',
      'updating',
      'completed',
    ]);
    // The restarted agent re-stores registry credentials (a spec write) but starts no task.
    expect(
      (await t.h.docker.listTasks({ filters: { service: [web] } })).map((task) => task.ID).sort(),
    ).toEqual(tasksBefore.map((task) => task.ID).sort());
  }, 60_000);

  it('applies an order whose wake-up message was lost at the next backstop pass', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    const agent = t.h.startAgent(t.h.config({ backstopSeconds: 2 }));
    await agent.pass('settle');
    const order = t.h.order([{ name: web, image: t.images.good2 }]);

    // Act
    await t.h.publish(order, { wake: false });
    const status = await t.h.finalStatus(order.deploymentId, 20_000);

    // Assess
    expect(status.state).toBe('completed');
    expect(t.h.emulator.calls.filter((call) => call.operation === 'SendMessage')).toEqual([]);
  }, 60_000);

  it("renders the environment at the order's version into the service in the same update", async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    t.h.emulator.ssm.put(t.h.params.environment, JSON.stringify({ GREETING: 'hello', MODE: 'blue' }), {
      type: 'SecureString',
    });
    t.h.emulator.ssm.put(t.h.params.environment, JSON.stringify({ GREETING: 'later' }), {
      type: 'SecureString',
    });
    t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.good2 }], { environmentVersion: 1 });

    // Act
    await t.h.publish(order);
    const status = await t.h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('completed');
    const spec = (await t.h.docker.getService(web).inspect()).Spec;
    expect(spec.TaskTemplate.ContainerSpec.Env).toEqual(['GREETING=hello', 'MODE=blue']);
    expect(spec.TaskTemplate.ContainerSpec.Image).toBe(t.images.good2);
    expect(t.h.logs.join('\n')).not.toContain('hello');
  }, 60_000);

  it('refuses an order naming a repository outside its allow-list, and one that is not an order', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    const agent = t.h.startAgent(t.h.config());
    const foreign = t.h.order([{ name: web, image: t.images.good2.replace('/agent@', '/agent-evil@') }]);

    // Act
    await t.h.publish(foreign);
    const refused = await t.h.finalStatus(foreign.deploymentId);
    await t.h.publish('{"deploymentId":"garbage-order-1","services":"all"}', { wake: false });
    await agent.pass('wake-up');

    // Assess
    expect(refused.state).toBe('refused');
    expect(refused.reason).toMatch(/allow-list/);
    expect(t.h.status()).toMatchObject({ deploymentId: 'garbage-order-1', state: 'refused' });
    expect(t.h.status()?.reason).toMatch(/schema/);
    expect(t.h.logs.filter((line) => line.includes('refused order'))).toHaveLength(2);
    expect(updates()).toBe(0);
    expect((await t.h.docker.getService(web).inspect()).Spec.TaskTemplate.ContainerSpec.Image).toBe(
      t.images.good,
    );
  }, 60_000);

  it('reports what actually runs on its periodic pass when someone changed a service by hand', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    const agent = t.h.startAgent(t.h.config());
    const order = t.h.order([{ name: web, image: t.images.good2 }]);
    await t.h.publish(order);
    await t.h.finalStatus(order.deploymentId);
    const service = t.h.docker.getService(web);
    const current = await service.inspect();
    const spec = structuredClone(current.Spec);
    spec.TaskTemplate.ContainerSpec.Image = t.images.good;
    await service.update({ ...spec, version: current.Version.Index });
    await until('the hand-made change to run', async () => {
      const tasks = await t.h.docker.listTasks({ filters: { service: [web], 'desired-state': ['running'] } });
      return tasks.some(
        (task) => task.Status?.State === 'running' && task.Spec?.ContainerSpec?.Image === t.images.good,
      );
    });

    // Act
    await agent.pass('backstop');

    // Assess
    expect(t.h.status()).toMatchObject({ deploymentId: order.deploymentId, state: 'completed' });
    expect(t.h.status()?.services[0]).toMatchObject({
      specImage: t.images.good,
      runningImages: [t.images.good],
    });
    // EventBridge delivers asynchronously: the emulator on its next clock tick.
    await until('the drift event', async () => t.h.reports(order.deploymentId).length === 4);
    expect(t.h.reports(order.deploymentId).at(-1)?.services[0]?.runningImages).toEqual([t.images.good]);
  }, 60_000);

  it('re-stores fresh ECR credentials once after start and again when less than 6 of their 12 hours are left, without restarting tasks', async () => {
    // Prepare
    const web = await t.h.createService('web', t.images.good);
    const runningIds = async () =>
      (await t.h.docker.listTasks({ filters: { service: [web], 'desired-state': ['running'] } })).map(
        (task) => task.ID,
      );
    const before = await runningIds();
    let hoursLater = 0;
    const refreshed = () => t.h.logs.filter((line) => line.includes('registry credentials refreshed')).length;
    const tokens = () =>
      t.h.emulator.calls.filter((call) => call.operation === 'GetAuthorizationToken').length;

    // Act
    const agent = t.h.startAgent(t.h.config(), () => Date.now() + hoursLater * 3_600_000);
    await agent.pass('settle');
    await agent.pass('backstop');
    const afterStart = { refreshed: refreshed(), tokens: tokens() };
    hoursLater = 5;
    await agent.pass('backstop');
    const afterFive = { refreshed: refreshed(), tokens: tokens() };
    hoursLater = 7;
    await agent.pass('backstop');

    // Assess
    expect(afterStart).toEqual({ refreshed: 1, tokens: 1 });
    expect(afterFive).toEqual({ refreshed: 1, tokens: 1 });
    expect({ refreshed: refreshed(), tokens: tokens() }).toEqual({ refreshed: 2, tokens: 2 });
    expect(await runningIds()).toEqual(before);
  }, 60_000);
});
