import type { EventBridgeEvent } from 'aws-lambda';
import { type EcsEventOutcome, handleEcsEvent, parseEcsEvent } from '../src/ecs/events.ts';
import { rolloutDependencies } from './rollout-clients.ts';
import { logger, wrap } from './runtime.ts';

type EcsStateChange = EventBridgeEvent<'ECS Deployment State Change' | 'ECS Task State Change', unknown>;

export const lambdaHandler = async (event: EcsStateChange): Promise<EcsEventOutcome> => {
  const outcome = await handleEcsEvent(rolloutDependencies, parseEcsEvent(event));
  logger.info('ecs event', { detailType: event['detail-type'], eventId: event.id, ...outcome });
  return outcome;
};

export const handler = wrap(lambdaHandler);
