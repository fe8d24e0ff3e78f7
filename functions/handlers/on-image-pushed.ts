import type { EventBridgeEvent } from 'aws-lambda';
import { parseImagePush, routeImagePush } from '../src/image-push.ts';
import { isIgnored } from '../src/tracking.ts';
import { entryClients } from './config-source.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) => entryClients(settings);

export const createOnImagePushedHandler = (deps = awsDefaults()) =>
  wrap(async (event: EventBridgeEvent<'ECR Image Action', unknown>) => {
    const push = parseImagePush(event);
    if (isIgnored(push)) {
      logger.info('push ignored', { why: push.ignored });
      return `ignored: ${push.ignored}`;
    }
    const routed = await routeImagePush(deps, push);
    if (routed.invalidConfigs.length > 0)
      logger.warn('skipped invalid configs', { invalid: routed.invalidConfigs });
    if (routed.ignored) {
      logger.info('push ignored', { repository: push.repository, tag: push.tag, why: routed.ignored });
      return `ignored: ${routed.ignored}`;
    }
    for (const decision of routed.decisions) logger.info('push routed', { ...decision, digest: push.digest });
    return routed;
  });

export const handler = createOnImagePushedHandler();
