import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';

export const logger = new Logger({ serviceName: 'gantry' });

/** Read once at cold start, failing fast with the missing key's name. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export const parameterPrefix = process.env.GANTRY_PARAMETER_PREFIX ?? '/gantry';

/** The coordination table's name (serverless.yml sets it): for the handlers that use the table. */
export const coordinationTableVariable = 'GANTRY_COORDINATION_TABLE';

/** How long the entry Lambdas cache the configs (0 in the sandbox, where configs are seeded live). */
export const configCacheSeconds = nonNegativeNumber('GANTRY_CONFIG_CACHE_SECONDS', 60);

function nonNegativeNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`environment variable ${name} must be a number >= 0`);
  return value;
}

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
  return (
    middy<TEvent, TResult, Error, Context>(handler)
      // Never the event, whatever the environment says: waitForRollout's carries a task token.
      .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
      .use(logFailure)
  );
}
