import { decideGate, type GateDependencies, type GateRequest } from '../src/ecs/gates.ts';
import { gateClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings): GateDependencies => gateClients(settings);

/**
 * DecideGate: a pause hook of a staged ECS deployment awaits Gantry. Runs the config's checks and
 * answers the hook; returns the deployment with the decision kept in its watch.
 */
export const createDecideGateHandler = (deps = awsDefaults()) =>
  wrap(async (event: GateRequest) => {
    const deployment = await decideGate(deps, event);
    const decision = deployment.watch?.gates.at(-1);
    logger.info('gate decided', {
      deploymentId: deployment.deploymentId,
      lifecycleStage: decision?.lifecycleStage,
      action: decision?.action,
      sent: decision?.sent,
    });
    return deployment;
  });

export const handler = createDecideGateHandler();
