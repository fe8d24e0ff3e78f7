import type { DeployState } from '../src/deploy-state.ts';
import { withNeutralState } from '../src/targets/pre-seam.ts';
import { type TargetClients, type TargetDeployment, targetFor } from '../src/targets/target.ts';
import { targetClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) => ({ targets: targetClients(settings) });

/** Deploy: the config's target rolls the plan's image out. */
export const createDeployHandler = (deps: { targets: TargetClients } = awsDefaults()) =>
  wrap(async (state: DeployState): Promise<TargetDeployment> => {
    const { plan } = withNeutralState(state);
    const deployment = await targetFor(plan.config, deps.targets).deploy(plan);
    logger.info('deploying', { app: plan.app, env: plan.env, image: plan.desired.image, ...deployment });
    return deployment;
  });

export const handler = createDeployHandler();
