import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DeployState } from '../src/deploy-state.ts';
import { type OutcomeDependencies, type OutcomeKind, recordOutcome } from '../src/outcome.ts';
import { withNeutralState } from '../src/targets/pre-seam.ts';
import { coordinationClients } from './clients.ts';
import { environmentSettings, lazily, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) =>
  lazily<OutcomeDependencies>({
    ssm: () => new SSMClient(settings.client),
    table: () => coordinationClients(settings).table,
    events: () => new EventBridgeClient(settings.client),
    parameterPrefix: () => settings.parameterPrefix,
    // The default bus, where users add their own rules; IAM allows exactly this one.
    eventBusName: () => 'default',
    now: () => () => new Date(),
  });

export const createRecordOutcomeHandler = (deps = awsDefaults()) =>
  wrap(async ({ kind, state: given }: { kind: OutcomeKind; state: DeployState }) => {
    const state = withNeutralState(given);
    const recorded = await recordOutcome(deps, kind, state);
    logger.info('recorded', { app: state.plan.app, env: state.plan.env, ...recorded });
    return recorded;
  });

export const handler = createRecordOutcomeHandler();
