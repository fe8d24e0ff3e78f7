import { cleanUpAfterExecution } from '../src/coordination/execution-ended.ts';
import { coordination } from './coordination-clients.ts';
import { logger, requiredEnv, wrap } from './runtime.ts';

const deployStateMachineArn = requiredEnv('DEPLOY_STATE_MACHINE_ARN');

/** Step Functions Execution Status Change (FAILED, TIMED_OUT, ABORTED) → free what the execution held. */
export const lambdaHandler = async (event: unknown) => {
  const outcome = await cleanUpAfterExecution(coordination, deployStateMachineArn, event);
  logger.info('execution ended', { ...outcome });
  return outcome;
};

export const handler = wrap(lambdaHandler);
