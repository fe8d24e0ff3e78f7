import { GetInstancesCommand, GetLoadBalancerCommand, LightsailClient } from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCheckHealthGateHandler } from '../../functions/handlers/check-health-gate.ts';
import type { DeployConfig } from '../../functions/src/config/schema.ts';
import { healthGateChecks, swarmHealthGate } from '../../functions/src/targets/swarm.ts';
import { lambdaContext } from '../../sandbox/runner.ts';
import { webConfig } from '../support/aws-fixtures.ts';
import { target } from './fixtures.ts';

const lightsailMock = mockClient(LightsailClient);
const gated = {
  ...target,
  lightsail: { ...target.lightsail, loadBalancer: { name: 'shop-lb', bakeSeconds: 100 } },
};
const start = new Date('2026-12-03T12:00:00Z');
const at = (seconds: number) => new Date(start.getTime() + seconds * 1000);

function lightsailSays(health: 'healthy' | 'unhealthy') {
  lightsailMock.on(GetInstancesCommand).resolves({
    instances: [
      { name: 'manager-1', state: { name: 'running' }, tags: [{ key: 'gantry:swarm', value: 'shop-prod' }] },
    ],
  });
  lightsailMock.on(GetLoadBalancerCommand).resolves({
    loadBalancer: { instanceHealthSummary: [{ instanceName: 'manager-1', instanceHealth: health }] },
  });
}

beforeEach(() => lightsailSays('healthy'));
afterEach(() => lightsailMock.reset());

describe('the swarm health gate', () => {
  const lightsail = () => new LightsailClient({ region: 'eu-west-1' });

  it('passes at once for a target without a load balancer, asking Lightsail nothing', async () => {
    // Act
    const gate = await swarmHealthGate(lightsail(), target, {}, start);

    // Assess
    expect(gate).toEqual({ status: 'passed' });
    expect(lightsailMock.calls()).toHaveLength(0);
  });

  it('waits between checks over bakeSeconds and passes after at most its bounded number of checks', async () => {
    // Act: check as the state machine would, at the time each answer names.
    const steps = [];
    let gate = await swarmHealthGate(lightsail(), gated, {}, start);
    let now = 0;
    steps.push(gate);
    while (gate.status === 'waiting') {
      now += gate.nextCheckInSeconds ?? 0;
      gate = await swarmHealthGate(lightsail(), gated, gate, at(now));
      steps.push(gate);
    }

    // Assess
    expect(gate).toMatchObject({ status: 'passed', checks: healthGateChecks });
    expect(steps).toHaveLength(healthGateChecks);
    expect(now).toBeGreaterThanOrEqual(100);
  });

  it('fails with RolloutFailed when an instance turns unhealthy', async () => {
    // Prepare
    lightsailSays('unhealthy');

    // Act / Assess
    await expect(swarmHealthGate(lightsail(), gated, {}, start)).rejects.toMatchObject({
      name: 'RolloutFailed',
      message: expect.stringContaining('shop-lb'),
    });
  });
});

describe('CheckHealthGate', () => {
  const handler = () =>
    createCheckHealthGateHandler({
      targets: { lightsail: new LightsailClient({ region: 'eu-west-1' }) },
      now: () => start,
    });
  const swarmConfig: DeployConfig = { ...webConfig, repository: 'shop', target: gated };

  it('answers the first check with when to check again', async () => {
    // Act
    const gate = await handler()({ config: swarmConfig, gate: {} }, lambdaContext('checkHealthGate'));

    // Assess
    expect(gate).toMatchObject({ status: 'waiting', nextCheckInSeconds: 25, progress: { checks: 1 } });
  });

  it('refuses an ECS config with InputInvalid', async () => {
    // Act / Assess
    await expect(
      handler()({ config: webConfig, gate: {} }, lambdaContext('checkHealthGate')),
    ).rejects.toMatchObject({
      name: 'InputInvalid',
    });
  });
});
