import type { EventBridgeEvent } from 'aws-lambda';
import { type EcsEventOutcome, handleEcsEvent } from '../src/ecs/events.ts';
import { rolloutDependencies } from './rollout-clients.ts';
import { logger, wrap } from './runtime.ts';

type EcsStateChange = EventBridgeEvent<string, unknown>;

export const lambdaHandler = async (event: EcsStateChange): Promise<EcsEventOutcome> => {
  const outcome = await handleEcsEvent(rolloutDependencies, event);
  const about = { detailType: event['detail-type'], eventId: event.id };
  // One line that says the event changed nothing, so nobody reads success into it.
  if (outcome.action === 'ignored') logger.info(`ignored: ${outcome.why}`, about);
  else logger.info('ecs event', { ...about, ...outcome });
  return outcome;
};

export const handler = wrap(lambdaHandler);
