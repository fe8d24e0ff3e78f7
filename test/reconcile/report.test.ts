import { describe, expect, it } from 'vitest';
import type { ReconcileSummary } from '../../functions/src/reconcile/reconcile.ts';
import { parseReconcileRun, reconcileMetrics, summaryLine } from '../../functions/src/reconcile/report.ts';
import { loadEvent, story } from '../support/aws-fixtures.ts';

const summary: ReconcileSummary = {
  runAt: '2025-06-03T10:20:00Z',
  checked: 2,
  started: 1,
  drifted: 1,
  restored: 0,
  deferred: 1,
  failed: 0,
  invalidConfigs: [],
  calls: 12,
  callCap: 1000,
  outcomes: [
    {
      app: 'web',
      env: 'prod',
      status: 'checked',
      lostPush: { action: 'none', why: 'the newest matching image is live' },
      drift: { action: 'none', why: 'runs the recorded release' },
    },
    {
      app: 'web',
      env: 'staging',
      status: 'checked',
      lostPush: { action: 'started', digest: story.digest, tag: 'v1.4.2', executionArn: story.executionArn },
      drift: { action: 'none', why: 'runs the recorded release' },
    },
    {
      app: 'api',
      env: 'staging',
      status: 'checked',
      lostPush: { action: 'none', why: 'the newest matching image is live' },
      drift: { action: 'reported', differences: ['revision'] },
    },
    { app: 'api', env: 'prod', status: 'deferred', why: 'the cap of 1000 AWS calls per run is spent' },
  ],
};

describe('the reconciler run', () => {
  it('takes its time, account and region from the Scheduled Event', () => {
    expect(parseReconcileRun(loadEvent('scheduled-reconcile.json'))).toEqual({
      time: '2025-06-03T10:20:00Z',
      account: story.account,
      region: story.region,
    });
  });

  it('ignores, saying why, an event that is not a Scheduled Event', () => {
    expect(parseReconcileRun(loadEvent('ecr-image-push.json'))).toEqual({
      ignored: 'not an EventBridge Scheduled Event with account, region and time',
    });
  });
});

describe('the run summary', () => {
  it('lists only what changed or was left over, with every count', () => {
    // Prepare
    const { outcomes, ...counts } = summary;

    // Act, Assess
    expect(summaryLine(summary)).toEqual({ ...counts, notable: [outcomes[1], outcomes[2], outcomes[3]] });
  });

  it('carries its counts as embedded metrics CloudWatch extracts from the log line', () => {
    // Act
    const metrics = reconcileMetrics(summary, 1_733_220_000_000);

    // Assess: each metric the directive names is a number at the root, and so is each dimension.
    const [directive] = metrics._aws.CloudWatchMetrics;
    expect(metrics._aws.Timestamp).toBe(1_733_220_000_000);
    expect(directive?.Namespace).toBe('Gantry');
    for (const dimension of directive?.Dimensions.flat() ?? []) expect(metrics).toHaveProperty(dimension);
    expect(
      Object.fromEntries(
        (directive?.Metrics ?? []).map(({ Name }) => [Name, metrics[Name as keyof typeof metrics]]),
      ),
    ).toEqual({
      AppsChecked: 2,
      DeploysStarted: 1,
      DriftDetected: 1,
      DriftRestored: 0,
      AppsDeferred: 1,
      AppsFailed: 0,
      ReconcileCalls: 12,
    });
  });
});
