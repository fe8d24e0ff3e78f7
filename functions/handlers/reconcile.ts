import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type ReconcileDependencies, reconcile } from '../src/reconcile/reconcile.ts';
import { parseReconcileRun, reconcileMetrics, summaryLine } from '../src/reconcile/report.ts';
import { rebuildConfigIndexes } from '../src/repository-index/config-change.ts';
import { isIgnored } from '../src/tracking.ts';
import { coordinationClients } from './clients.ts';
import { cachedConfigSource, entrySsmClient } from './config-source.ts';
import { environmentSettings, lazily, logger, wrap } from './runtime.ts';

/** A whole number >= 1 from the environment, failing with the variable's name. */
function positiveWholeNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`environment variable ${name} must be a whole number >= 1`);
  }
  return value;
}

export const awsDefaults = (settings = environmentSettings) => {
  const coordination = coordinationClients(settings);
  return lazily<ReconcileDependencies>({
    // Adaptive retries: a run reads from the Parameter Store quota the entry Lambdas share.
    ssm: () => entrySsmClient(settings.client),
    ecr: () => new ECRClient(settings.client),
    sfn: () => coordination.sfn,
    ecs: () => new ECSClient(settings.client),
    events: () => new EventBridgeClient(settings.client),
    table: () => coordination.table,
    parameterPrefix: () => settings.parameterPrefix,
    stateMachineArn: () => settings.stateMachineArn,
    // The default bus, where users add their own rules; IAM allows exactly this one.
    eventBusName: () => 'default',
    maxCalls: () => positiveWholeNumber('GANTRY_RECONCILE_MAX_CALLS', 1000),
    maxImagePages: () => positiveWholeNumber('GANTRY_RECONCILE_MAX_IMAGE_PAGES', 10),
  });
};

/**
 * The scheduled reconciler: catches pushes whose event was lost and targets that drifted from the
 * recorded live release. One summary log line per run, carrying its counts as embedded metrics.
 */
export const createReconcileHandler = (deps = awsDefaults(), now: () => number = Date.now) =>
  wrap(async (event: unknown) => {
    const run = parseReconcileRun(event);
    if (isIgnored(run)) {
      logger.info('reconcile ignored', { why: run.ignored });
      return `ignored: ${run.ignored}`;
    }
    const summary = await reconcile(deps, run);
    logger.info('reconciled', { ...summaryLine(summary), ...reconcileMetrics(summary, now()) });
    // The repository and alarm indexes, rebuilt each period: an entry a lost Parameter Store Change
    // event left stale is right again within one period (the push it missed is the lost-push
    // pass's). A failure here waits for the next period rather than running the whole reconcile again.
    try {
      const { repositories, alarms } = await rebuildConfigIndexes({
        table: deps.table,
        configSource: cachedConfigSource(deps.ssm, 0),
        parameterPrefix: deps.parameterPrefix,
      });
      if (repositories.repaired.length > 0) logger.info('repository index repaired', { ...repositories });
      if (alarms.repaired.length > 0) logger.info('alarm index repaired', { ...alarms });
    } catch (error) {
      logger.warn('config indexes not rebuilt', { error: (error as Error).name });
    }
    return summary;
  });

export const handler = createReconcileHandler();
