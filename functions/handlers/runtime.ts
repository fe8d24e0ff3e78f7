import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';

export const logger = new Logger({ serviceName: 'gantry' });

/** Read once, failing with the missing key's name. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/**
 * Builds each property on first read and keeps it. Handlers' default dependencies are built this
 * way, so importing a handler constructs no client and reads no variable: a function pays only
 * for the clients it uses, and the sandbox can import every handler and inject its own.
 */
export function lazily<T extends object>(builders: { [K in keyof T]: () => T[K] }): T {
  const built = {} as T;
  for (const key of Object.keys(builders) as (keyof T)[]) {
    Object.defineProperty(built, key, {
      enumerable: true,
      configurable: true,
      get() {
        const value = builders[key]();
        Object.defineProperty(built, key, { value, enumerable: true });
        return value;
      },
    });
  }
  return built;
}

/** Where the handlers' clients send their calls; empty on AWS (the SDK's own defaults). */
export interface ClientSettings {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** What every handler's default dependencies are built from: the function's environment on AWS. */
export interface HandlerSettings {
  client: ClientSettings;
  parameterPrefix: string;
  /** The coordination table's name (serverless.yml sets it): for the handlers that use the table. */
  coordinationTable: string;
  /** The deploy state machine (serverless.yml sets it): for the entry Lambdas and the clean-up. */
  stateMachineArn: string;
  /** How long the entry Lambdas cache the configs (0 in the sandbox, where configs are seeded live). */
  configCacheSeconds: number;
}

/** The coordination table's name variable (serverless.yml sets it). */
export const coordinationTableVariable = 'GANTRY_COORDINATION_TABLE';

/** The function's environment, each value read when first needed, failing with the missing key's name. */
export const environmentSettings: HandlerSettings = lazily<HandlerSettings>({
  client: () => ({}),
  parameterPrefix: () => process.env.GANTRY_PARAMETER_PREFIX ?? '/gantry',
  coordinationTable: () => requiredEnv(coordinationTableVariable),
  stateMachineArn: () => requiredEnv('DEPLOY_STATE_MACHINE_ARN'),
  configCacheSeconds: () => nonNegativeNumber('GANTRY_CONFIG_CACHE_SECONDS', 60),
});

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
