import type { EventBridgeEvent } from 'aws-lambda';
import { type EcsEventOutcome, handleEcsEvent } from '../src/ecs/events.ts';
import { ecsRolloutClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

type EcsStateChange = EventBridgeEvent<string, unknown>;

export const awsDefaults = (settings = environmentSettings) => ecsRolloutClients(settings);

export const createOnEcsEventHandler = (deps = awsDefaults()) =>
  wrap(async (event: EcsStateChange): Promise<EcsEventOutcome> => {
    const outcome = await handleEcsEvent(deps, event);
    const about = { detailType: event['detail-type'], eventId: event.id };
    // One line that says the event changed nothing, so nobody reads success into it.
    if (outcome.action === 'ignored') logger.info(`ignored: ${outcome.why}`, about);
    else logger.info('ecs event', { ...about, ...outcome });
    return outcome;
  });

export const handler = createOnEcsEventHandler();
