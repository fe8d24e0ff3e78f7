import { type LockDependencies, parkWaiter } from '../src/lock.ts';
import { coordinationClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

interface WaitForLockEvent {
  taskToken: string;
  app: string;
  env: string;
  executionArn: string;
  requestedAt: string;
  image: string;
  /** The state's timeout: the waiter item expires a day after it. */
  timeoutSeconds: number;
}

export const awsDefaults = (settings = environmentSettings): LockDependencies =>
  coordinationClients(settings);

/**
 * Invoked with `.waitForTaskToken`: parks the token in the waiter slot; the holder's release (or
 * the end-of-execution rule, or a newer waiter) resumes it. The token is stored, never logged.
 */
export const createWaitForLockHandler = (deps = awsDefaults()) =>
  wrap(async ({ taskToken, app, env, ...claim }: WaitForLockEvent) => {
    const parked = await parkWaiter(deps, { app, env }, { ...claim, taskToken });
    logger.info('waiting for the lock', { app, env, parked });
    return { parked };
  });

export const handler = createWaitForLockHandler();
