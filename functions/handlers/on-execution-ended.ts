import { cleanUpAfterExecution } from '../src/coordination/execution-ended.ts';
import type { LockDependencies } from '../src/lock.ts';
import { coordinationClients } from './clients.ts';
import { environmentSettings, lazily, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) =>
  lazily<{ coordination: LockDependencies; stateMachineArn: string }>({
    coordination: () => coordinationClients(settings),
    stateMachineArn: () => settings.stateMachineArn,
  });

/** Step Functions Execution Status Change (FAILED, TIMED_OUT, ABORTED) → free what the execution held. */
export const createOnExecutionEndedHandler = (deps = awsDefaults()) =>
  wrap(async (event: unknown) => {
    const outcome = await cleanUpAfterExecution(deps.coordination, deps.stateMachineArn, event);
    logger.info('execution ended', { ...outcome });
    return outcome;
  });

export const handler = createOnExecutionEndedHandler();
