import type { EventBridgeEvent } from 'aws-lambda';
import {
  indexConfigChange,
  parseConfigChangeEvent,
  readConfigChange,
} from '../src/repository-index/config-change.ts';
import { isIgnored } from '../src/tracking.ts';
import { entryClients } from './config-source.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) => entryClients(settings);

/** A config parameter was created, changed or deleted: the repository and alarm indexes follow it. */
export const createOnConfigChangedHandler = (deps = awsDefaults()) =>
  wrap(async (event: EventBridgeEvent<'Parameter Store Change', unknown>) => {
    const changed = parseConfigChangeEvent(event, deps.parameterPrefix);
    if (isIgnored(changed)) {
      logger.info('parameter change ignored', { why: changed.ignored });
      return `ignored: ${changed.ignored}`;
    }
    const change = await readConfigChange(deps.ssm, deps.parameterPrefix, changed);
    await indexConfigChange(deps.table, change);
    logger.info('config indexes updated', { ...change, operation: changed.operation });
    return change;
  });

export const handler = createOnConfigChangedHandler();
