import { ECRClient } from '@aws-sdk/client-ecr';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type DeployPlan, type PlanDependencies, resolveDeployPlan } from '../src/deploy-plan.ts';
import { coordinationClients, targetClients } from './clients.ts';
import { environmentSettings, lazily, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) =>
  lazily<PlanDependencies>({
    ssm: () => new SSMClient(settings.client),
    ecr: () => new ECRClient(settings.client),
    targets: () => targetClients(settings),
    table: () => coordinationClients(settings).table,
    parameterPrefix: () => settings.parameterPrefix,
  });

interface ResolveConfigEvent {
  request: unknown;
  executionArn: string;
  startedAt: string;
}

export const createResolveConfigHandler = (deps = awsDefaults()) =>
  wrap(async (event: ResolveConfigEvent): Promise<DeployPlan> => {
    const plan = await resolveDeployPlan(deps, event);
    logger.info('resolved', { app: plan.app, env: plan.env, mode: plan.mode, image: plan.desired.image });
    return plan;
  });

export const handler = createResolveConfigHandler();
