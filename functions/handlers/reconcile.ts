import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { type ReconcileDependencies, reconcile } from '../src/reconcile/reconcile.ts';
import { parseReconcileRun, reconcileMetrics, summaryLine } from '../src/reconcile/report.ts';
import { isIgnored } from '../src/tracking.ts';
import { entrySsmClient } from './config-source.ts';
import { coordinationTableVariable, logger, parameterPrefix, requiredEnv, wrap } from './runtime.ts';

/**
 * The scheduled reconciler: catches pushes whose event was lost and targets that drifted from the
 * recorded live release. One summary log line per run, carrying its counts as embedded metrics.
 */
export function createReconcileHandler(deps: ReconcileDependencies, now: () => number = Date.now) {
  return async (event: unknown) => {
    const run = parseReconcileRun(event);
    if (isIgnored(run)) {
      logger.info('reconcile ignored', { why: run.ignored });
      return `ignored: ${run.ignored}`;
    }
    const summary = await reconcile(deps, run);
    logger.info('reconciled', { ...summaryLine(summary), ...reconcileMetrics(summary, now()) });
    return summary;
  };
}

/** A whole number >= 1 from the environment, failing fast with the variable's name. */
function positiveWholeNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`environment variable ${name} must be a whole number >= 1`);
  return value;
}

function defaultDependencies(): ReconcileDependencies {
  return {
    // Adaptive retries: the run reads from the Parameter Store quota the entry Lambdas share.
    ssm: entrySsmClient(),
    ecr: new ECRClient({}),
    sfn: new SFNClient({}),
    ecs: new ECSClient({}),
    events: new EventBridgeClient({}),
    table: { dynamodb: new DynamoDBClient({}), tableName: requiredEnv(coordinationTableVariable) },
    parameterPrefix,
    stateMachineArn: requiredEnv('DEPLOY_STATE_MACHINE_ARN'),
    // The default bus, where users add their own rules; IAM allows exactly this one.
    eventBusName: 'default',
    maxCalls: positiveWholeNumber('GANTRY_RECONCILE_MAX_CALLS', 1000),
    maxImagePages: positiveWholeNumber('GANTRY_RECONCILE_MAX_IMAGE_PAGES', 10),
  };
}

export const handler = wrap(createReconcileHandler(defaultDependencies()));
