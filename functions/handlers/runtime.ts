import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';

/** Shared by every handler: read once at cold start, failing fast with the missing key's name. */
export const logger = new Logger({ serviceName: 'gantry' });

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export const parameterPrefix = process.env.GANTRY_PARAMETER_PREFIX ?? '/gantry';

/**
 * Logs a failure by name and message only: events and states can carry task tokens, and Step
 * Functions already keeps the full error. The error is rethrown unchanged so `Retry`/`Catch`
 * match on its name.
 */
const logFailure: MiddlewareObj = {
  onError: async (request) => {
    const error = request.error;
    logger.error('step failed', { error: { name: error?.name, message: error?.message } });
  },
};

export function wrap<TEvent, TResult>(handler: (event: TEvent, context: Context) => Promise<TResult>) {
  return middy<TEvent, TResult, Error, Context>(handler)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logFailure);
}
