import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { awsCall, TransientAwsError } from './errors.ts';

/** The `detail-type`s Gantry puts on the bus (source `gantry`); users route them to Slack, SNS, … */
export type GantryEventType =
  | 'Release Succeeded'
  | 'Release Rolled Back'
  | 'Rollback Succeeded'
  | 'Rollback Failed'
  | 'Request Superseded'
  /** The reconciler found the target running something else than the recorded live release. */
  | 'Drift Detected'
  /** The recorded live release is running again after a drift (`onDrift: restore`). */
  | 'Drift Restored'
  /** Every change of what is live; the detail is the app/env's status (functions/src/status.ts). */
  | 'Release Status Changed';

export const gantryEventSource = 'gantry';

/**
 * Delivery is at least once: a retried step may put the same event again, so consumers should
 * de-duplicate on `executionArn` + `detail-type`.
 */
export async function publishGantryEvent(
  events: EventBridgeClient,
  eventBusName: string,
  detailType: GantryEventType,
  detail: Record<string, unknown>,
  resources: string[] = [],
): Promise<void> {
  const { FailedEntryCount, Entries } = await awsCall('putting the gantry event', () =>
    events.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: gantryEventSource,
            DetailType: detailType,
            Detail: JSON.stringify(detail),
            EventBusName: eventBusName,
            Resources: resources,
          },
        ],
      }),
    ),
  );
  if (FailedEntryCount) {
    const entry = Entries?.find((candidate) => candidate.ErrorCode);
    throw new TransientAwsError(`EventBridge refused the event: ${entry?.ErrorCode} ${entry?.ErrorMessage}`);
  }
}
