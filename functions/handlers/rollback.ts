import { ECSClient } from '@aws-sdk/client-ecs';
import type { DeployState } from '../src/deploy-state.ts';
import type { EcsDeployment } from '../src/ecs/deploy.ts';
import { rollBack } from '../src/target.ts';
import { logger, wrap } from './runtime.ts';

const ecs = new ECSClient({});

export const lambdaHandler = async (state: DeployState): Promise<EcsDeployment> => {
  const rollback = await rollBack(ecs, state);
  logger.warn('rolling back', {
    app: state.plan.app,
    env: state.plan.env,
    cause: state.failure?.Error,
    ...rollback,
  });
  return rollback;
};

export const handler = wrap(lambdaHandler);
