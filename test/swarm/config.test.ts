import { describe, expect, it } from 'vitest';
import { describeIssues } from '../../functions/src/config/schema.ts';
import { swarmTargetSchema } from '../../functions/src/swarm/config.ts';
import { swarmPolicySchema } from '../../functions/src/swarm/contract.ts';

const minimal = {
  type: 'swarm',
  queueName: 'gantry-swarm-shop-prod',
  services: [{ name: 'shop_web' }],
  lightsail: { instanceTag: { key: 'gantry:swarm', value: 'shop-prod' } },
  policy: {},
};

describe('swarmTargetSchema', () => {
  it('accepts a minimal swarm target and fills the contract policy defaults', () => {
    // Act
    const target = swarmTargetSchema.parse(minimal);

    // Assess
    expect(target.policy).toEqual(swarmPolicySchema.parse({}));
    expect(target.policy.update.failureAction).toBe('rollback');
    expect(target.policy.rollback.failureAction).toBe('pause');
    expect(target.registry).toBeUndefined();
  });

  it('accepts another registry and a load balancer gate', () => {
    // Act
    const target = swarmTargetSchema.parse({
      ...minimal,
      registry: '127.0.0.1:5000',
      lightsail: { ...minimal.lightsail, loadBalancer: { name: 'shop-prod-lb', bakeSeconds: 60 } },
    });

    // Assess
    expect(target.registry).toBe('127.0.0.1:5000');
    expect(target.lightsail.loadBalancer).toEqual({ name: 'shop-prod-lb', bakeSeconds: 60 });
  });

  it.each([
    [
      'services named twice',
      { services: [{ name: 'web' }, { name: 'web' }] },
      'services: service names must be unique',
    ],
    ['no service', { services: [] }, 'services: Too small'],
    [
      '21 services',
      { services: Array.from({ length: 21 }, (_, i) => ({ name: `s${i}` })) },
      'services: Too big',
    ],
    ['a FIFO queue name', { queueName: 'wake.fifo' }, 'queueName: an SQS standard queue name'],
    ['a queue URL instead of a name', { queueName: 'https://sqs.eu-west-1.amazonaws.com/1/q' }, 'queueName'],
    [
      'a registry with a scheme',
      { registry: 'https://registry.example' },
      'registry: a registry host[:port]',
    ],
    ['an unknown key', { cluster: 'x' }, '(root): unknown key(s) cluster'],
    ['a bad service name', { services: [{ name: '-web' }] }, 'services.0.name: a swarm service name'],
    [
      'an unknown failure action',
      { policy: { update: { failureAction: 'restart' } } },
      'policy.update.failureAction',
    ],
  ])('refuses %s, naming the field', (_, change, message) => {
    // Act
    const result = swarmTargetSchema.safeParse({ ...minimal, ...change });

    // Assess
    expect(result.success).toBe(false);
    expect(result.success ? [] : describeIssues(result.error).join('\n')).toContain(message);
  });

  it('refuses a bake longer than an hour', () => {
    // Act
    const result = swarmTargetSchema.safeParse({
      ...minimal,
      lightsail: { ...minimal.lightsail, loadBalancer: { name: 'lb', bakeSeconds: 3_601 } },
    });

    // Assess
    expect(result.success ? [] : describeIssues(result.error)).toEqual([
      'lightsail.loadBalancer.bakeSeconds: Too big: expected number to be <=3600',
    ]);
  });
});
