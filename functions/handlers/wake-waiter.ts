import { wakeWaiter } from '../src/lock.ts';
import { coordination } from './coordination-clients.ts';
import { logger, wrap } from './runtime.ts';

/** After ReleaseLock: resumes the request parked for this app/environment, if any. */
export const lambdaHandler = async ({ app, env }: { app: string; env: string }) => {
  const woken = await wakeWaiter(coordination, { app, env });
  logger.info('lock released', { app, env, woken });
  return { woken };
};

export const handler = wrap(lambdaHandler);
