import {
  GetInstancesCommand,
  GetLoadBalancerCommand,
  type Instance,
  LightsailClient,
} from '@aws-sdk/client-lightsail';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';

/**
 * The emulator's Lightsail (GetInstances, GetLoadBalancer) through the real SDK client. moto does
 * not implement Lightsail, so these tests hold the shapes and refusals to the Lightsail API
 * reference and the SDK model instead of a differential run.
 */
describe('the emulator Lightsail', () => {
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

  async function allInstances(): Promise<Instance[]> {
    // The SDK has no paginator for GetInstances: follow nextPageToken by hand, as Gantry must.
    const instances: Instance[] = [];
    let pageToken: string | undefined;
    do {
      const page = await lightsail.send(
        new GetInstancesCommand(pageToken === undefined ? {} : { pageToken }),
      );
      instances.push(...(page.instances ?? []));
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
    return instances;
  }

  describe('GetInstances', () => {
    it('returns seeded instances with their tags and running state', async () => {
      // Prepare
      emulator.lightsail.putInstance({
        name: 'shop-prod-1',
        tags: { 'gantry:app': 'shop', 'gantry:env': 'prod' },
      });

      // Act
      const { instances } = await lightsail.send(new GetInstancesCommand({}));

      // Assess
      expect(instances).toHaveLength(1);
      expect(instances?.[0]).toMatchObject({
        name: 'shop-prod-1',
        resourceType: 'Instance',
        tags: [
          { key: 'gantry:app', value: 'shop' },
          { key: 'gantry:env', value: 'prod' },
        ],
        state: { code: 16, name: 'running' },
        location: { regionName: emulator.region },
      });
      expect(instances?.[0]?.arn).toMatch(
        /^arn:aws:lightsail:us-east-1:000000000000:Instance\/[0-9a-f-]{36}$/,
      );
      expect(instances?.[0]?.createdAt).toBeInstanceOf(Date);
    });

    it('shows a state change made by the test, and no public address once stopped', async () => {
      // Prepare
      emulator.lightsail.putInstance({ name: 'shop-prod-1' });

      // Act
      emulator.lightsail.setInstanceState('shop-prod-1', 'stopped');
      const { instances } = await lightsail.send(new GetInstancesCommand({}));

      // Assess
      expect(instances?.[0]?.state).toEqual({ code: 80, name: 'stopped' });
      expect(instances?.[0]?.publicIpAddress).toBeUndefined();
    });

    it('pages with nextPageToken and omits the token on the last page', async () => {
      // Prepare
      emulator.lightsail.setPageSize(2);
      for (const n of [1, 2, 3, 4, 5]) emulator.lightsail.putInstance({ name: `host-${n}` });

      // Act
      const first = await lightsail.send(new GetInstancesCommand({}));
      const everything = await allInstances();

      // Assess
      expect(first.instances?.map((i) => i.name)).toEqual(['host-1', 'host-2']);
      expect(first.nextPageToken).toEqual(expect.any(String));
      expect(everything.map((i) => i.name)).toEqual(['host-1', 'host-2', 'host-3', 'host-4', 'host-5']);
    });

    it('refuses a page token it did not issue with InvalidInputException', async () => {
      // Act
      const result = lightsail.send(new GetInstancesCommand({ pageToken: 'not-a-token' }));

      // Assess
      await expect(result).rejects.toMatchObject({ name: 'InvalidInputException' });
    });

    it('refuses includeHealthStatus loudly rather than return no status', async () => {
      // Act
      const result = lightsail.send(new GetInstancesCommand({ includeHealthStatus: true }));

      // Assess
      await expect(result).rejects.toMatchObject({
        name: 'UnsupportedParameter',
        message: expect.stringContaining('not emulated'),
      });
    });
  });

  describe('GetLoadBalancer', () => {
    it('reports each attached instance health, with a reason unless healthy', async () => {
      // Prepare
      emulator.lightsail.putLoadBalancer({
        name: 'shop-prod-lb',
        instances: [{ name: 'shop-prod-1' }, { name: 'shop-prod-2', health: 'initial' }],
      });

      // Act
      const { loadBalancer } = await lightsail.send(
        new GetLoadBalancerCommand({ loadBalancerName: 'shop-prod-lb' }),
      );

      // Assess
      expect(loadBalancer).toMatchObject({
        name: 'shop-prod-lb',
        resourceType: 'LoadBalancer',
        state: 'active',
      });
      expect(loadBalancer?.instanceHealthSummary).toEqual([
        { instanceName: 'shop-prod-1', instanceHealth: 'healthy' },
        {
          instanceName: 'shop-prod-2',
          instanceHealth: 'initial',
          instanceHealthReason: 'Lb.RegistrationInProgress',
        },
      ]);
    });

    it('shows a health change made by the test', async () => {
      // Prepare
      emulator.lightsail.putLoadBalancer({ name: 'shop-prod-lb', instances: [{ name: 'shop-prod-1' }] });

      // Act
      emulator.lightsail.setInstanceHealth('shop-prod-lb', 'shop-prod-1', 'unhealthy', 'Instance.Timeout');
      const { loadBalancer } = await lightsail.send(
        new GetLoadBalancerCommand({ loadBalancerName: 'shop-prod-lb' }),
      );

      // Assess
      expect(loadBalancer?.instanceHealthSummary).toEqual([
        {
          instanceName: 'shop-prod-1',
          instanceHealth: 'unhealthy',
          instanceHealthReason: 'Instance.Timeout',
        },
      ]);
    });

    it('will not seed a reason the reference does not pair with that health', () => {
      // Prepare
      emulator.lightsail.putLoadBalancer({ name: 'shop-prod-lb', instances: [{ name: 'shop-prod-1' }] });

      // Act
      const seed = () =>
        emulator.lightsail.setInstanceHealth('shop-prod-lb', 'shop-prod-1', 'healthy', 'Instance.Timeout');

      // Assess
      expect(seed).toThrow(/does not go with 'healthy'/);
    });

    it('answers an unknown load balancer with NotFoundException', async () => {
      // Act
      const result = lightsail.send(new GetLoadBalancerCommand({ loadBalancerName: 'nope' }));

      // Assess
      await expect(result).rejects.toMatchObject({ name: 'NotFoundException' });
    });

    it('refuses a call without loadBalancerName with InvalidInputException', async () => {
      // Act
      const result = lightsail.send(new GetLoadBalancerCommand({ loadBalancerName: '' }));

      // Assess
      await expect(result).rejects.toMatchObject({ name: 'InvalidInputException' });
    });
  });
});
