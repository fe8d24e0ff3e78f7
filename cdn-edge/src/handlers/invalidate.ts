import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { S3Client } from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import { parseEdgeConfigFile } from '../config.ts';
import { shippedConfig } from '../edge-config.ts';
import {
  CloudFrontInvalidator,
  type InvalidationDeps,
  type InvalidationOutcome,
  invalidateOriginals,
} from '../invalidation.ts';
import { type OriginalChange, originalChanges } from '../originals.ts';
import { logLine } from './cloudfront.ts';

/**
 * The invalidation function: S3 event notifications on the originals' buckets go to an SQS queue,
 * which delivers them here in batches (invalidation.yml). A message that is not an S3 change (the
 * test event S3 sends when notifications are configured, or anything unreadable) is logged and
 * dropped, never retried: it cannot become valid. Any other failure fails the whole batch, which
 * SQS redelivers after the visibility timeout.
 */
export function createInvalidateHandler(deps: InvalidationDeps) {
  return async (event: SQSEvent): Promise<InvalidationOutcome> => {
    const changes: OriginalChange[] = [];
    for (const record of event.Records) {
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch {
        deps.log({
          level: 'warn',
          code: 'Invalidate.Ignored',
          reason: 'not JSON',
          messageId: record.messageId,
        });
        continue;
      }
      const found = originalChanges(body);
      if (found.length === 0) {
        deps.log({
          level: 'info',
          code: 'Invalidate.Ignored',
          reason: 'no object change',
          messageId: record.messageId,
        });
      }
      changes.push(...found);
    }
    const batchId = event.Records.map((r) => r.messageId)
      .sort()
      .join(',');
    return invalidateOriginals(changes, batchId, deps);
  };
}

let invalidate: ReturnType<typeof createInvalidateHandler> | undefined;
export const handler = (event: SQSEvent): Promise<InvalidationOutcome> => {
  // A regional function (not Lambda@Edge): it has an environment. The config is the bundled file,
  // validated here; no signing secret is needed to delete and invalidate.
  invalidate ??= createInvalidateHandler({
    config: parseEdgeConfigFile(shippedConfig),
    s3: new S3Client({ region: shippedConfig.derived.region }),
    // CloudFront's API is global, served from us-east-1.
    invalidator: new CloudFrontInvalidator(
      new CloudFrontClient({ region: 'us-east-1' }),
      requiredEnv('DISTRIBUTION_ID'),
    ),
    log: logLine,
  });
  return invalidate(event);
};

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
