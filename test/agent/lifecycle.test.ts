import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type Harness, pushAgentImages, startHarness, until } from './harness.ts';

/**
 * The agent's own life on a real engine, with the sandbox emulator (a simulation) for AWS:
 * restarts, repeated and lost wake-ups, the environment, refusals and registry credentials.
 */
describe('the swarm agent across wake-ups and restarts', () => {
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

  const updates = () => h.logs.filter((line) => line.includes('"service updated"')).length;

  it('resumes watching after being stopped mid-update and reports the end, without writing the spec again', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    const first = h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.crash }]);
    await h.publish(order);
    await until('the update to start', async () => h.status()?.state === 'updating');

    // Act
    await first.stop();
    h.startAgent(h.config());
    const status = await h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('rollback_completed');
    expect(h.reports(order.deploymentId).map((r) => r.state)).toEqual([
      'accepted',
      'updating',
      'rollback_completed',
    ]);
    expect(updates()).toBe(1);
    expect(h.logs.some((line) => line.includes('resuming an unfinished order'))).toBe(true);
  }, 60_000);

  it('applies an order once when it is read again (duplicate wake-up, restarted agent)', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    const first = h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.good2 }]);
    await h.publish(order);
    await h.finalStatus(order.deploymentId);
    const tasksBefore = await h.docker.listTasks({ filters: { service: [web] } });

    // Act
    await h.publish(order, { wake: false });
    await first.pass('wake-up');
    await first.stop();
    const second = h.startAgent(h.config());
    await second.pass('wake-up');

    // Assess
    expect(updates()).toBe(1);
    expect(h.reports(order.deploymentId).map((r) => r.state)).toEqual(['accepted', 'updating', 'completed']);
    // The restarted agent re-stores registry credentials (a spec write) but starts no task.
    expect((await h.docker.listTasks({ filters: { service: [web] } })).map((t) => t.ID).sort()).toEqual(
      tasksBefore.map((t) => t.ID).sort(),
    );
  }, 60_000);

  it('applies an order whose wake-up message was lost at the next backstop pass', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    const agent = h.startAgent(h.config({ backstopSeconds: 2 }));
    await agent.pass('settle');
    const order = h.order([{ name: web, image: images.good2 }]);

    // Act
    await h.publish(order, { wake: false });
    const status = await h.finalStatus(order.deploymentId, 20_000);

    // Assess
    expect(status.state).toBe('completed');
    expect(h.emulator.calls.filter((call) => call.operation === 'SendMessage')).toEqual([]);
  }, 60_000);

  it("renders the environment at the order's version into the service in the same update", async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    h.emulator.ssm.put(h.params.environment, JSON.stringify({ GREETING: 'hello', MODE: 'blue' }), {
      type: 'SecureString',
    });
    h.emulator.ssm.put(h.params.environment, JSON.stringify({ GREETING: 'later' }), { type: 'SecureString' });
    h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.good2 }], { environmentVersion: 1 });

    // Act
    await h.publish(order);
    const status = await h.finalStatus(order.deploymentId);

    // Assess
    expect(status.state).toBe('completed');
    const spec = (await h.docker.getService(web).inspect()).Spec;
    expect(spec.TaskTemplate.ContainerSpec.Env).toEqual(['GREETING=hello', 'MODE=blue']);
    expect(spec.TaskTemplate.ContainerSpec.Image).toBe(images.good2);
    expect(h.logs.join('\n')).not.toContain('hello');
  }, 60_000);

  it('refuses an order naming a repository outside its allow-list, and one that is not an order', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    const agent = h.startAgent(h.config());
    const foreign = h.order([{ name: web, image: images.good2.replace('/agent@', '/agent-evil@') }]);

    // Act
    await h.publish(foreign);
    const refused = await h.finalStatus(foreign.deploymentId);
    await h.publish('{"deploymentId":"garbage-order-1","services":"all"}', { wake: false });
    await agent.pass('wake-up');

    // Assess
    expect(refused.state).toBe('refused');
    expect(refused.reason).toMatch(/allow-list/);
    expect(h.status()).toMatchObject({ deploymentId: 'garbage-order-1', state: 'refused' });
    expect(h.status()?.reason).toMatch(/schema/);
    expect(h.logs.filter((line) => line.includes('refused order'))).toHaveLength(2);
    expect(updates()).toBe(0);
    expect((await h.docker.getService(web).inspect()).Spec.TaskTemplate.ContainerSpec.Image).toBe(
      images.good,
    );
  }, 60_000);

  it('reports what actually runs on its periodic pass when someone changed a service by hand', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    const agent = h.startAgent(h.config());
    const order = h.order([{ name: web, image: images.good2 }]);
    await h.publish(order);
    await h.finalStatus(order.deploymentId);
    const service = h.docker.getService(web);
    const current = await service.inspect();
    const spec = structuredClone(current.Spec);
    spec.TaskTemplate.ContainerSpec.Image = images.good;
    await service.update({ ...spec, version: current.Version.Index });
    await until('the hand-made change to run', async () => {
      const tasks = await h.docker.listTasks({ filters: { service: [web], 'desired-state': ['running'] } });
      return tasks.some((t) => t.Status?.State === 'running' && t.Spec?.ContainerSpec?.Image === images.good);
    });

    // Act
    await agent.pass('backstop');

    // Assess
    expect(h.status()).toMatchObject({ deploymentId: order.deploymentId, state: 'completed' });
    expect(h.status()?.services[0]).toMatchObject({ specImage: images.good, runningImages: [images.good] });
    // EventBridge delivers asynchronously: the emulator on its next clock tick.
    await until('the drift event', async () => h.reports(order.deploymentId).length === 4);
    expect(h.reports(order.deploymentId).at(-1)?.services[0]?.runningImages).toEqual([images.good]);
  }, 60_000);

  it('re-stores fresh ECR credentials once after start and again when less than 6 of their 12 hours are left, without restarting tasks', async () => {
    // Prepare
    const web = await h.createService('web', images.good);
    const runningIds = async () =>
      (await h.docker.listTasks({ filters: { service: [web], 'desired-state': ['running'] } })).map(
        (t) => t.ID,
      );
    const before = await runningIds();
    let hoursLater = 0;
    const refreshed = () => h.logs.filter((line) => line.includes('registry credentials refreshed')).length;
    const tokens = () => h.emulator.calls.filter((call) => call.operation === 'GetAuthorizationToken').length;

    // Act
    const agent = h.startAgent(h.config(), () => Date.now() + hoursLater * 3_600_000);
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
