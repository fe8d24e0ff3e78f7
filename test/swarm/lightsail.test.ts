import { LightsailClient } from '@aws-sdk/client-lightsail';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkHealthGate,
  type HealthGateStep,
  requireRunningInstances,
} from '../../functions/src/swarm/lightsail.ts';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';

const tag = { key: 'gantry:swarm', value: 'shop-prod' };
const swarmTags = { 'gantry:swarm': 'shop-prod' };
const hosts = ['shop-prod-1', 'shop-prod-2'];

describe('swarm Lightsail checks (against the sandbox emulator, a simulation)', () => {
  let emulator: Emulator;
  let lightsail: LightsailClient;

  beforeEach(async () => {
    emulator = await startEmulator();
    lightsail = new LightsailClient({ ...emulator.clientConfig, maxAttempts: 1 });
  });
  afterEach(async () => {
    lightsail.destroy();
    await emulator.close();
  });

  describe('requireRunningInstances', () => {
    it('finds the tagged instances on every page, and only those', async () => {
      // Prepare: tagged hosts on the second and third pages.
      emulator.lightsail.setPageSize(2);
      for (const name of ['other-1', 'other-2', 'shop-prod-1', 'other-3', 'shop-prod-2']) {
        // Hosts carry other tags too; an untagged instance must not match either.
        const tags = name.startsWith('shop') ? { Name: name, ...swarmTags } : { 'gantry:swarm': 'x' };
        emulator.lightsail.putInstance({ name, tags });
      }
      emulator.lightsail.putInstance({ name: 'untagged' });

      // Act
      const instances = await requireRunningInstances(lightsail, tag);

      // Assess
      expect(instances).toEqual([
        { name: 'shop-prod-1', state: 'running' },
        { name: 'shop-prod-2', state: 'running' },
      ]);
    });

    it('refuses with SwarmInstancesNotRunning when no instance carries the tag', async () => {
      // Prepare
      emulator.lightsail.putInstance({ name: 'other-1', tags: { 'gantry:swarm': 'shop-staging' } });

      // Act
      const checking = requireRunningInstances(lightsail, tag);

      // Assess
      await expect(checking).rejects.toMatchObject({
        name: 'SwarmInstancesNotRunning',
        message: 'no Lightsail instance carries the tag gantry:swarm=shop-prod',
      });
    });

    it('refuses naming each tagged instance that is not running, and its state', async () => {
      // Prepare
      emulator.lightsail.putInstance({ name: 'shop-prod-1', tags: swarmTags });
      emulator.lightsail.putInstance({ name: 'shop-prod-2', tags: swarmTags, state: 'stopped' });
      emulator.lightsail.putInstance({ name: 'shop-prod-3', tags: swarmTags, state: 'pending' });

      // Act
      const checking = requireRunningInstances(lightsail, tag);

      // Assess
      await expect(checking).rejects.toMatchObject({
        name: 'SwarmInstancesNotRunning',
        message: expect.stringContaining('not running: shop-prod-2 (stopped), shop-prod-3 (pending)'),
      });
    });
  });

  describe('checkHealthGate', () => {
    const loadBalancer = { name: 'shop-prod-lb', bakeSeconds: 60 };
    const start = Date.parse('2026-12-03T12:00:00Z');
    const at = (seconds: number) => new Date(start + seconds * 1000);

    function seedBalancer(health: 'healthy' | 'initial' | 'unhealthy' = 'healthy'): void {
      emulator.lightsail.putLoadBalancer({
        name: loadBalancer.name,
        instances: hosts.map((name) => ({ name, health })),
      });
    }

    /** Runs the gate as a state machine would: check, wait what it says, check again. */
    async function runGate(
      healthAt: (checks: number) => void,
    ): Promise<{ last: HealthGateStep; checks: number; waited: number }> {
      let step: HealthGateStep | undefined;
      let waited = 0;
      let checks = 0;
      for (;;) {
        healthAt(checks);
        step = await checkHealthGate(lightsail, {
          loadBalancer,
          instanceNames: hosts,
          now: at(waited),
          ...(step?.status === 'waiting' ? { progress: step.progress } : {}),
        });
        checks += 1;
        if (step.status !== 'waiting') return { last: step, checks, waited };
        waited += step.nextCheckInSeconds;
        // A hang guard, not a timing assertion: the gate must end by itself.
        if (checks > 50) throw new Error('the gate does not end');
      }
    }

    it('refuses a bound that is not a whole number of checks, and progress without a valid start, with InputInvalid', async () => {
      // Prepare
      seedBalancer('healthy');
      const input = { loadBalancer, instanceNames: hosts, now: at(0) };

      // Act / Assess
      for (const maxChecks of [0, 1.5]) {
        await expect(checkHealthGate(lightsail, { ...input, maxChecks })).rejects.toMatchObject({
          name: 'InputInvalid',
          message: 'maxChecks must be an integer >= 1',
        });
      }
      await expect(
        checkHealthGate(lightsail, { ...input, progress: { startedAt: 'soon', checks: 1 } }),
      ).rejects.toMatchObject({
        name: 'InputInvalid',
        message: 'the health gate progress has no valid startedAt',
      });
    });

    it('spreads the checks left over what is left of the bake', async () => {
      // Prepare
      seedBalancer('healthy');

      // Act
      const first = await checkHealthGate(lightsail, { loadBalancer, instanceNames: hosts, now: at(0) });
      const second = await checkHealthGate(lightsail, {
        loadBalancer,
        instanceNames: hosts,
        now: at(20),
        progress: { startedAt: at(0).toISOString(), checks: 1 },
      });

      // Assess: 60 s over 4 checks left, then 40 s over 3.
      expect(first).toMatchObject({
        status: 'waiting',
        nextCheckInSeconds: 15,
        progress: { checks: 1, startedAt: at(0).toISOString() },
      });
      expect(second).toMatchObject({
        status: 'waiting',
        nextCheckInSeconds: 14,
        progress: { checks: 2, startedAt: at(0).toISOString() },
      });
    });

    it('passes after bakeSeconds of healthy checks, in a bounded number of checks', async () => {
      // Prepare
      seedBalancer('healthy');

      // Act
      const { last, checks, waited } = await runGate(() => {});

      // Assess
      expect(last).toMatchObject({ status: 'passed', checks: 5 });
      expect(checks).toBe(5);
      expect(waited).toBeGreaterThanOrEqual(loadBalancer.bakeSeconds);
    });

    it('waits through initial health checks and passes once every instance is healthy', async () => {
      // Prepare
      seedBalancer('initial');

      // Act
      const { last } = await runGate((checks) => {
        if (checks === 2)
          for (const name of hosts) emulator.lightsail.setInstanceHealth(loadBalancer.name, name, 'healthy');
      });

      // Assess
      expect(last.status).toBe('passed');
    });

    it('fails at once when an instance turns unhealthy, with the reason the load balancer gives', async () => {
      // Prepare
      seedBalancer('healthy');

      // Act
      const { last, checks } = await runGate((n) => {
        if (n === 1)
          emulator.lightsail.setInstanceHealth(
            loadBalancer.name,
            'shop-prod-2',
            'unhealthy',
            'Instance.Timeout',
          );
      });

      // Assess
      expect(checks).toBe(2);
      expect(last).toMatchObject({
        status: 'failed',
        reason: 'unhealthy: shop-prod-2 unhealthy (Instance.Timeout)',
      });
    });

    it('gives up after bakeSeconds when an instance never leaves initial', async () => {
      // Prepare
      seedBalancer('initial');

      // Act
      const { last } = await runGate(() => {});

      // Assess
      expect(last).toMatchObject({
        status: 'failed',
        reason: expect.stringContaining('not healthy after 60 s: shop-prod-1 initial'),
      });
    });

    it('fails at the end of the bake when one instance is healthy and another still initial', async () => {
      // Prepare
      emulator.lightsail.putLoadBalancer({
        name: loadBalancer.name,
        instances: [
          { name: 'shop-prod-1', health: 'healthy' },
          { name: 'shop-prod-2', health: 'initial' },
        ],
      });

      // Act
      const { last } = await runGate(() => {});

      // Assess
      expect(last).toMatchObject({
        status: 'failed',
        reason: 'not healthy after 60 s: shop-prod-2 initial (Lb.RegistrationInProgress)',
      });
    });

    it('fails when the load balancer has no instance at all', async () => {
      // Prepare
      emulator.lightsail.putLoadBalancer({ name: loadBalancer.name, instances: [] });

      // Act
      const step = await checkHealthGate(lightsail, {
        loadBalancer: { ...loadBalancer, bakeSeconds: 0 },
        instanceNames: [],
        now: at(0),
      });

      // Assess
      expect(step).toMatchObject({
        status: 'failed',
        reason: 'not healthy after 0 s: no instance behind the load balancer',
      });
    });

    it('decides at the last allowed check even if the bake has not run out (bounded transitions)', async () => {
      // Prepare
      seedBalancer('healthy');
      const first = await checkHealthGate(lightsail, {
        loadBalancer,
        instanceNames: hosts,
        now: at(0),
        maxChecks: 2,
      });
      if (first.status !== 'waiting') throw new Error(`expected waiting, got ${first.status}`);

      // Act: the second check comes early.
      const second = await checkHealthGate(lightsail, {
        loadBalancer,
        instanceNames: hosts,
        now: at(1),
        maxChecks: 2,
        progress: first.progress,
      });

      // Assess
      expect(first).toMatchObject({
        nextCheckInSeconds: 60,
        progress: { checks: 1, startedAt: at(0).toISOString() },
      });
      expect(second).toMatchObject({ status: 'passed', checks: 2 });
    });

    it.each([
      ['maxChecks of 0', { maxChecks: 0 }, 'maxChecks must be an integer >= 1'],
      ['a fractional maxChecks', { maxChecks: 1.5 }, 'maxChecks must be an integer >= 1'],
      [
        'a progress without a valid start',
        { progress: { startedAt: 'yesterday', checks: 1 } },
        'no valid startedAt',
      ],
    ])('refuses %s with InputInvalid, before asking Lightsail', async (_, change, message) => {
      // Act
      const step = checkHealthGate(lightsail, { loadBalancer, instanceNames: hosts, now: at(0), ...change });

      // Assess
      await expect(step).rejects.toMatchObject({
        name: 'InputInvalid',
        message: expect.stringContaining(message),
      });
    });

    it('fails when a swarm host is not behind the load balancer', async () => {
      // Prepare
      emulator.lightsail.putLoadBalancer({ name: loadBalancer.name, instances: [{ name: 'shop-prod-1' }] });

      // Act
      const step = await checkHealthGate(lightsail, { loadBalancer, instanceNames: hosts, now: at(0) });

      // Assess
      expect(step).toMatchObject({ status: 'failed', reason: expect.stringContaining('shop-prod-2') });
    });

    it('decides on the first check when bakeSeconds is 0', async () => {
      // Prepare
      seedBalancer('healthy');

      // Act
      const step = await checkHealthGate(lightsail, {
        loadBalancer: { ...loadBalancer, bakeSeconds: 0 },
        instanceNames: hosts,
        now: at(0),
      });

      // Assess
      expect(step).toMatchObject({ status: 'passed', checks: 1 });
    });

    it('lets a missing load balancer fail the step by its AWS name', async () => {
      // Act
      const step = checkHealthGate(lightsail, { loadBalancer, instanceNames: hosts, now: at(0) });

      // Assess
      await expect(step).rejects.toMatchObject({ name: 'NotFoundException' });
    });
  });
});
