import type { DeployConfig } from '../src/config/schema.ts';
import { InputInvalid } from '../src/errors.ts';
import { type HealthGateState, swarmHealthGate } from '../src/targets/swarm.ts';
import type { TargetClients } from '../src/targets/target.ts';
import { targetClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) => ({
  targets: targetClients(settings),
  now: () => new Date(),
});

/** The state's Parameters: the plan's config and the gate so far (`$.healthGate`). */
export interface CheckHealthGateEvent {
  config: DeployConfig;
  gate: HealthGateState;
}

/** CheckHealthGate: one look at the swarm's Lightsail load balancer after the swarm converged. */
export const createCheckHealthGateHandler = (
  deps: { targets: Pick<TargetClients, 'lightsail'>; now: () => Date } = awsDefaults(),
) =>
  wrap(async (event: CheckHealthGateEvent) => {
    if (event.config.target.type !== 'swarm') {
      throw new InputInvalid('the health gate applies to swarm targets only');
    }
    const gate = await swarmHealthGate(deps.targets.lightsail, event.config.target, event.gate, deps.now());
    logger.info('health gate', { status: gate.status, checks: gate.progress?.checks ?? gate.checks });
    return gate;
  });

export const handler = createCheckHealthGateHandler();
