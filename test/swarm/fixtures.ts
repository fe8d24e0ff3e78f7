import type { SwarmTarget } from '../../functions/src/swarm/config.ts';
import { type SwarmRolloutReport, swarmPolicySchema } from '../../functions/src/swarm/contract.ts';
import { buildSwarmOrder, pinnedImage, servicesOnImage } from '../../functions/src/swarm/order.ts';

/** Plain data shared by the swarm target's tests. */
export const executionArn =
  'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:push-shop-prod-1';
export const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
export const newImage = pinnedImage(registry, 'shop', `sha256:${'b'.repeat(64)}`);
export const goodImage = pinnedImage(registry, 'shop', `sha256:${'a'.repeat(64)}`);
export const orderedAt = '2026-12-03T12:00:00.000Z';

export const target: SwarmTarget = {
  type: 'swarm',
  queueName: 'gantry-swarm-shop-prod',
  services: [{ name: 'shop_web' }, { name: 'shop_worker' }],
  lightsail: { instanceTag: { key: 'gantry:swarm', value: 'shop-prod' } },
  // The contract's defaults: rollback on a failed update, pause on a failed rollback.
  policy: swarmPolicySchema.parse({}),
};

export const deployOrder = buildSwarmOrder({
  app: 'shop',
  env: 'prod',
  target,
  kind: 'deploy',
  executionArn,
  orderedAt,
  services: servicesOnImage(target, { repository: 'shop', digest: `sha256:${'b'.repeat(64)}` }, registry),
});

export const lastGood = target.services.map((service) => ({ name: service.name, image: goodImage }));

type ServiceReport = SwarmRolloutReport['services'][number];

/** A service as the agent reports it: running `image`, nothing failed unless told. */
export function serviceReport(
  name: string,
  image: string,
  overrides: Partial<ServiceReport> = {},
): ServiceReport {
  return { name, specImage: image, runningImages: [image], failedTasks: [], ...overrides };
}

/** An agent report about {@link deployOrder}, every service running `image` unless told. */
export function reportOf(
  state: SwarmRolloutReport['state'],
  overrides: Partial<SwarmRolloutReport> = {},
  image = newImage,
): SwarmRolloutReport {
  return {
    app: 'shop',
    env: 'prod',
    deploymentId: deployOrder.deploymentId,
    state,
    services: target.services.map((service) => serviceReport(service.name, image)),
    agent: 'manager-1',
    reportedAt: '2026-12-03T12:01:00.000Z',
    ...overrides,
  };
}
