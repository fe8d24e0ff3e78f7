import { type Ignored, ignore } from '../tracking.ts';
import * as z from '../zod.ts';
import type { ReconcileRun, ReconcileSummary } from './reconcile.ts';

/**
 * The event a scheduled rule sends: source `aws.events`, detail-type `Scheduled Event` (EventBridge
 * events reference, "Amazon EventBridge events":
 * https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-events.html). Account and region
 * name the registry the run reads, as the ECR event does for the entry Lambda.
 */
const scheduledEventSchema = z.object({
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
  account: z.string().check(z.regex(/^\d{12}$/)),
  region: z.string().check(z.minLength(1)),
  time: z.iso.datetime({ offset: true }),
});

/** The run a scheduled event asks for, or why this event asks for none. */
export function parseReconcileRun(event: unknown): ReconcileRun | Ignored {
  const parsed = scheduledEventSchema.safeParse(event);
  if (!parsed.success) return ignore('not an EventBridge Scheduled Event with account, region and time');
  return { time: parsed.data.time, account: parsed.data.account, region: parsed.data.region };
}

/** The run's summary as one log line: counts, and what happened to whom, without tokens or configs. */
export function summaryLine(summary: ReconcileSummary) {
  const { outcomes, ...counts } = summary;
  return {
    ...counts,
    // What changed or was left over; the rest of the fleet was simply checked.
    notable: outcomes.filter(
      (outcome) =>
        outcome.status !== 'checked' ||
        outcome.lostPush.action === 'started' ||
        outcome.drift.action !== 'none',
    ),
  };
}

/** The namespace Gantry's metrics live in. */
export const metricNamespace = 'Gantry';

/**
 * The summary's counts as CloudWatch embedded metric format: members of the log line's root
 * object named by a `_aws.CloudWatchMetrics` directive, which CloudWatch Logs extracts into
 * metrics with no API call (Specification: Embedded metric format,
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html:
 * `Timestamp` in epoch milliseconds, `Dimensions` naming root members, each metric a root member
 * holding a number).
 */
export function reconcileMetrics(summary: ReconcileSummary, timestampMs: number) {
  const values = {
    AppsChecked: summary.checked,
    DeploysStarted: summary.started,
    DriftDetected: summary.drifted,
    DriftRestored: summary.restored,
    AppsDeferred: summary.deferred,
    AppsFailed: summary.failed,
    ReconcileCalls: summary.calls,
  };
  return {
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [
        {
          Namespace: metricNamespace,
          Dimensions: [['Function']],
          Metrics: Object.keys(values).map((name) => ({ Name: name, Unit: 'Count' })),
        },
      ],
    },
    Function: 'reconcile',
    ...values,
  };
}
