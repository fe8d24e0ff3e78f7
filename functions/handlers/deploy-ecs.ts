import { ECSClient } from '@aws-sdk/client-ecs';
import type { DeployState } from '../src/deploy-state.ts';
import type { EcsDeployment } from '../src/ecs/deploy.ts';
import { deploy } from '../src/target.ts';
import { logger, wrap } from './runtime.ts';

const ecs = new ECSClient({});

export const lambdaHandler = async ({ plan }: DeployState): Promise<EcsDeployment> => {
  const deployment = await deploy(ecs, plan);
  logger.info('deploying', { app: plan.app, env: plan.env, image: plan.desired.image, ...deployment });
  return deployment;
};

export const handler = wrap(lambdaHandler);
