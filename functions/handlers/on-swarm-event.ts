import type { EventBridgeEvent } from 'aws-lambda';
import { handleSwarmEvent, type SwarmEventOutcome } from '../src/swarm/events.ts';
import { coordinationClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

type AgentReport = EventBridgeEvent<string, unknown>;

export const awsDefaults = (settings = environmentSettings) => coordinationClients(settings);

/** The host agent's `Swarm Rollout State Change` events resume the execution parked on the deployment. */
export const createOnSwarmEventHandler = (deps = awsDefaults()) =>
  wrap(async (event: AgentReport): Promise<SwarmEventOutcome> => {
    const outcome = await handleSwarmEvent(deps, event);
    const about = { detailType: event['detail-type'], eventId: event.id };
    // One line that says the event changed nothing, so nobody reads success into it.
    if (outcome.action === 'ignored') logger.info(`ignored: ${outcome.why}`, about);
    else logger.info('swarm event', { ...about, ...outcome });
    return outcome;
  });

export const handler = createOnSwarmEventHandler();
