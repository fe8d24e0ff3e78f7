import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
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

/** One gantry event: its `detail-type`, its detail, and the resources it concerns. */
export interface GantryEvent {
  detailType: GantryEventType;
  detail: Record<string, unknown>;
  resources?: string[];
}

/** PutEvents takes 1 to 10 entries a call (PutEvents API reference, `Entries`). */
const maxEntriesPerCall = 10;
/**
 * The entries of one PutEvents call must total less than 256 KB, counted as Source, DetailType,
 * Detail and each Resources entry in UTF-8 bytes ("Calculating Amazon EventBridge PutEvents event
 * entry size", EventBridge user guide, eb-putevent-size.html).
 */
const maxBytesPerCall = 256 * 1024;
/**
 * A failed entry is sent again in a later call (EventBridge user guide, "Sending events with
 * PutEvents": "You must detect unsuccessful entries and include them in a subsequent call");
 * after this many calls the step fails and its Retry puts the events again.
 */
const maxAttempts = 3;

/**
 * Delivery is at least once: a retried step may put the same event again, so consumers should
 * de-duplicate on `executionArn` + `detail-type`.
 */
export function publishGantryEvent(
  events: EventBridgeClient,
  eventBusName: string,
  detailType: GantryEventType,
  detail: Record<string, unknown>,
  resources: string[] = [],
): Promise<void> {
  return publishGantryEvents(events, eventBusName, [{ detailType, detail, resources }]);
}

/**
 * Puts several gantry events in as few PutEvents calls as their count and size allow (one, for
 * an outcome and the status it leaves). PutEvents reports failures per entry (`FailedEntryCount`,
 * each failed entry with its `ErrorCode`, at the index of its request entry: SDK model,
 * @aws-sdk/client-eventbridge PutEventsResponse): only the failed ones are sent again, so an event
 * that went through is not put twice by this call.
 */
export async function publishGantryEvents(
  events: EventBridgeClient,
  eventBusName: string,
  gantryEvents: readonly GantryEvent[],
): Promise<void> {
  const entries = gantryEvents.map(
    (event): PutEventsRequestEntry => ({
      Source: gantryEventSource,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
      EventBusName: eventBusName,
      Resources: event.resources ?? [],
    }),
  );
  for (const batch of batchesOf(entries)) await putAll(events, batch);
}

async function putAll(events: EventBridgeClient, batch: PutEventsRequestEntry[]): Promise<void> {
  let pending = batch;
  let refused: PutEventsResultEntry[] = [];
  for (let attempt = 0; attempt < maxAttempts && pending.length > 0; attempt++) {
    const { FailedEntryCount, Entries } = await awsCall('putting the gantry events', () =>
      events.send(new PutEventsCommand({ Entries: pending })),
    );
    if (!FailedEntryCount) return;
    const failed = pending.flatMap((_entry, index) => (Entries?.[index]?.ErrorCode ? [index] : []));
    refused = failed.map((index) => Entries?.[index] ?? {});
    pending = failed.map((index) => pending[index] as PutEventsRequestEntry);
  }
  const reasons = pending.map(
    (entry, index) => `${entry.DetailType}: ${refused[index]?.ErrorCode} ${refused[index]?.ErrorMessage}`,
  );
  throw new TransientAwsError(`EventBridge refused ${reasons.length} event(s): ${reasons.join('; ')}`);
}

/** The entries in order, in calls of at most 10 entries and less than 256 KB each. */
function batchesOf(entries: PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  const batches: PutEventsRequestEntry[][] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entrySize(entry);
    const last = batches.at(-1);
    if (last && last.length < maxEntriesPerCall && bytes + size < maxBytesPerCall) {
      last.push(entry);
      bytes += size;
    } else {
      batches.push([entry]);
      bytes = size;
    }
  }
  return batches;
}

function entrySize(entry: PutEventsRequestEntry): number {
  return [entry.Source, entry.DetailType, entry.Detail, ...(entry.Resources ?? [])].reduce(
    (total, text) => total + Buffer.byteLength(text ?? ''),
    0,
  );
}
