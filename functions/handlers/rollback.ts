import type { DeployState } from '../src/deploy-state.ts';
import { withNeutralState } from '../src/targets/pre-seam.ts';
import { type TargetClients, type TargetDeployment, targetFor } from '../src/targets/target.ts';
import { targetClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) => ({ targets: targetClients(settings) });

export const createRollbackHandler = (deps: { targets: TargetClients } = awsDefaults()) =>
  wrap(async (given: DeployState): Promise<TargetDeployment> => {
    const state = withNeutralState(given);
    const rollback = await targetFor(state.plan.config, deps.targets).rollBack(state);
    logger.warn('rolling back', {
      app: state.plan.app,
      env: state.plan.env,
      cause: state.failure?.Error,
      ...rollback,
    });
    return rollback;
  });

export const handler = createRollbackHandler();
