import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type DeployPlan, resolveDeployPlan } from '../src/deploy-plan.ts';
import { logger, parameterPrefix, wrap } from './runtime.ts';

const deps = { ssm: new SSMClient({}), ecr: new ECRClient({}), ecs: new ECSClient({}), parameterPrefix };

interface ResolveConfigEvent {
  request: unknown;
  executionArn: string;
  startedAt: string;
}

export const lambdaHandler = async (event: ResolveConfigEvent): Promise<DeployPlan> => {
  const plan = await resolveDeployPlan(deps, event);
  logger.info('resolved', { app: plan.app, env: plan.env, mode: plan.mode, image: plan.desired.image });
  return plan;
};

export const handler = wrap(lambdaHandler);
