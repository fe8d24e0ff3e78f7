import { type LockDependencies, wakeWaiter } from '../src/lock.ts';
import { coordinationClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings): LockDependencies =>
  coordinationClients(settings);

/** After ReleaseLock: resumes the request parked for this app/environment, if any. */
export const createWakeWaiterHandler = (deps = awsDefaults()) =>
  wrap(async ({ app, env }: { app: string; env: string }) => {
    const woken = await wakeWaiter(deps, { app, env });
    logger.info('lock released', { app, env, woken });
    return { woken };
  });

export const handler = createWakeWaiterHandler();
