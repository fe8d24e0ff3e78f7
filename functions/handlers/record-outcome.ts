import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DeployState } from '../src/deploy-state.ts';
import { type OutcomeKind, recordOutcome } from '../src/outcome.ts';
import { coordination } from './coordination-clients.ts';
import { logger, parameterPrefix, wrap } from './runtime.ts';

const deps = {
  ssm: new SSMClient({}),
  table: coordination.table,
  events: new EventBridgeClient({}),
  parameterPrefix,
  // The default bus, where users add their own rules; IAM allows exactly this one.
  eventBusName: 'default',
  now: () => new Date(),
};

export const lambdaHandler = async ({ kind, state }: { kind: OutcomeKind; state: DeployState }) => {
  const recorded = await recordOutcome(deps, kind, state);
  logger.info('recorded', { app: state.plan.app, env: state.plan.env, ...recorded });
  return recorded;
};

export const handler = wrap(lambdaHandler);
