/**
 * Every error a Gantry Lambda throws. Step Functions matches `Retry`/`Catch` on the error's
 * name, so names are literal strings (they survive minification) and this catalogue is the one
 * list both the code and `state-machines/deploy.asl.json` use; a test checks they agree.
 */
export const errorCatalogue = {
  /** The execution input or an event is malformed. Nothing was changed. */
  InputInvalid: { retryable: false },
  /** No config parameter for the app/environment. Nothing was changed. */
  ConfigNotFound: { retryable: false },
  /** The config parameter fails the schema; the message lists each bad field. Nothing was changed. */
  ConfigInvalid: { retryable: false },
  /**
   * The target ECS service lacks the tag `gantry:managed` = `true` that marks the services Gantry
   * may deploy (the stack's IAM grants are conditioned on it). Nothing was changed.
   */
  ServiceNotManaged: { retryable: false },
  /** The image tag or digest is not in the repository. Nothing was changed. */
  ImageNotFound: { retryable: false },
  /** A rollback was asked for but there is no recorded previous release. Nothing was changed. */
  NoPreviousRelease: { retryable: false },
  /** The target refused the change (missing service, container not in the task definition…). */
  DeployFailed: { retryable: false },
  /**
   * The service's task definition carries fields the bundled AWS SDK does not model (a newer ECS
   * feature): the SDK drops them, so a copy would silently lose them. Nothing was changed.
   */
  TaskDefinitionNotCopyable: { retryable: false },
  /** ECS reported the rollout FAILED, or too many of its tasks stopped. */
  RolloutFailed: { retryable: false },
  /** The rollout did not finish within `health.timeoutSeconds`. */
  RolloutTimedOut: { retryable: false },
  /**
   * The service has no PAUSE lifecycle hooks at the stages Gantry's `gates` decide, or no
   * blue/green, linear or canary strategy: the message names what is missing. Nothing was changed.
   */
  GateHooksMissing: { retryable: false },
  /**
   * An ECS service deployment ended where Gantry can neither record a release nor roll back by
   * itself: ROLLBACK_FAILED (e.g. the rollback of a service's first deployment) or STOPPED (another
   * deployment superseded it). A person must look. Alarming.
   */
  RolloutNeedsOperator: { retryable: false },
  /**
   * A rollback was requested (`gantry rollback`, Rollback Requested, a rollback alarm) while this
   * execution's rollout was in flight: the execution rolls back at once instead of finishing it.
   */
  RollbackRequested: { retryable: false },
  /** Terminal: the deploy failed and putting the previous release back failed too. Alarming. */
  RollbackFailed: { retryable: false },
  /**
   * A swarm rollback's own update paused (`rollback_paused`): the spec may already name last-good
   * while tasks still fail, and re-ordering the same image is a no-op unless forced, so the state
   * machine orders it once more with `ForceUpdate`; a forced one that pauses is RollbackFailed.
   */
  RollbackPaused: { retryable: false },
  /** Terminal: the outcome could not be written after every retry. */
  RecordFailed: { retryable: false },
  /**
   * Throttling, 5xx or a network fault from an AWS API, or AWS not there yet (ECS's circuit breaker
   * has not started its rollback): safe to retry with backoff.
   */
  TransientAwsError: { retryable: true },
  /**
   * The swarm host agent's local config file (agent/) is missing, not JSON, or fails its schema;
   * the message names each bad field. The agent does not start, so nothing was changed.
   */
  AgentConfigInvalid: { retryable: false },
  /**
   * A swarm target's Lightsail hosts (found by their tag) are missing, or one of them is not
   * `running`: the swarm could not apply an order. Nothing was changed.
   */
  SwarmInstancesNotRunning: { retryable: false },
  /**
   * The repository index entry changed under every attempt of a read-modify-write (a burst of
   * config changes to one repository). Raised by the config-change Lambda only, never in the state
   * machine: Lambda's asynchronous retry delivers the event again, and the reconciler repairs the
   * index should that fail too. Nothing was lost: the writes that won are newer.
   */
  IndexUpdateConflict: { retryable: false },
  /**
   * The reconciler's per-run call cap is spent: the app/environments it has not reached yet wait
   * for its next run. Caught inside the reconciler, never thrown out of a Lambda.
   */
  CallCapReached: { retryable: false },
} as const;

export type GantryErrorName = keyof typeof errorCatalogue;

export const retryableErrorNames = (Object.keys(errorCatalogue) as GantryErrorName[]).filter(
  (name) => errorCatalogue[name].retryable,
);

/** Errors Step Functions itself or the Lambda service raise, which the state machine also retries. */
export const platformRetryableErrorNames = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  // A Lambda that timed out or ran out of memory. Every Gantry step is safe to repeat.
  'Lambda.Unknown',
] as const;

/**
 * What a DynamoDB service-integration state (`arn:aws:states:::dynamodb:*`) raises: Step Functions
 * names the API's error with a `DynamoDB.` prefix (Step Functions developer guide, "Call DynamoDB
 * APIs with Step Functions", https://docs.aws.amazon.com/step-functions/latest/dg/connect-ddb.html);
 * the names after the prefix are the SDK model's (@aws-sdk/client-dynamodb models/errors.d.ts).
 */
export const dynamodbIntegrationErrors = {
  /** The ConditionExpression failed: for ReleaseLock, this execution did not hold the lock. */
  conditionFailed: 'DynamoDB.ConditionalCheckFailedException',
  /** Throttling and server faults: safe to retry with backoff. */
  retryable: [
    'DynamoDB.ProvisionedThroughputExceededException',
    'DynamoDB.ThrottlingException',
    'DynamoDB.RequestLimitExceeded',
    'DynamoDB.InternalServerError',
  ],
} as const;

/**
 * What the state machine does with an error, by what it means for the system. The ASL's Catch
 * lists name exactly these (test/functions/deploy-definition.test.ts holds them together).
 */
export const catchRules = {
  /** Raised by Deploy before the target changed: release the lock and fail, nothing to roll back. */
  nothingChanged: [
    'DeployFailed',
    'InputInvalid',
    'TaskDefinitionNotCopyable',
  ] as const satisfies readonly GantryErrorName[],
  /** A swarm rollback's own update paused: Rollback orders last-good once more, forced (`$.rollbackPaused`). */
  rollbackPaused: ['RollbackPaused'] as const satisfies readonly GantryErrorName[],
  /** ReleaseLock's condition failed: this execution never held the lock; go on. */
  lockNotHeld: [dynamodbIntegrationErrors.conditionFailed] as const,
};

export class GantryError extends Error {
  constructor(
    override readonly name: GantryErrorName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class InputInvalid extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InputInvalid', message, options);
  }
}

export class IndexUpdateConflict extends GantryError {
  constructor(repository: string, attempts: number) {
    super(
      'IndexUpdateConflict',
      `the index entry of ${repository} changed under ${attempts} attempts in a row`,
    );
  }
}

export class ConfigNotFound extends GantryError {
  constructor(message: string) {
    super('ConfigNotFound', message);
  }
}

export class ConfigInvalid extends GantryError {
  constructor(
    message: string,
    readonly issues: readonly string[],
  ) {
    super('ConfigInvalid', message);
  }
}

export class AgentConfigInvalid extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AgentConfigInvalid', message, options);
  }
}

export class SwarmInstancesNotRunning extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SwarmInstancesNotRunning', message, options);
  }
}

export class RollbackFailed extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RollbackFailed', message, options);
  }
}

export class ServiceNotManaged extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ServiceNotManaged', message, options);
  }
}

export class ImageNotFound extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageNotFound', message, options);
  }
}

export class NoPreviousRelease extends GantryError {
  constructor(message: string) {
    super('NoPreviousRelease', message);
  }
}

export class DeployFailed extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DeployFailed', message, options);
  }
}

export class TaskDefinitionNotCopyable extends GantryError {
  constructor(message: string) {
    super('TaskDefinitionNotCopyable', message);
  }
}

export class CallCapReached extends GantryError {
  constructor(message: string) {
    super('CallCapReached', message);
  }
}

export class GateHooksMissing extends GantryError {
  constructor(message: string) {
    super('GateHooksMissing', message);
  }
}

export class RolloutNeedsOperator extends GantryError {
  constructor(message: string) {
    super('RolloutNeedsOperator', message);
  }
}

export class TransientAwsError extends GantryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TransientAwsError', message, options);
  }
}

const transientAwsErrorNames = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ThrottledException',
  'RequestLimitExceeded',
  // DynamoDB's throttling (its API reference, Common Errors and each operation's Errors): the
  // coordination table is on demand, which still throttles past twice its previous peak.
  'ProvisionedThroughputExceededException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalServerException',
  'InternalFailure',
  'ServerException',
  'ServiceException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
]);

/**
 * The SDK already retried with backoff before an error reaches us; what is left is either
 * transient (the state machine retries the whole step later) or final. Only the transient ones
 * are renamed, so Step Functions retries one name instead of every service's spelling.
 */
export function classifyAwsError(error: unknown, doing: string): unknown {
  if (error instanceof GantryError || !(error instanceof Error)) return error;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const code = (error as { code?: string }).code;
  if (
    transientAwsErrorNames.has(error.name) ||
    (code !== undefined && transientAwsErrorNames.has(code)) ||
    (status !== undefined && status >= 500)
  ) {
    return new TransientAwsError(`${doing}: ${error.name}: ${error.message}`, { cause: error });
  }
  return error;
}

/** Runs one AWS call and turns a transient failure into `TransientAwsError`. */
export async function awsCall<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw classifyAwsError(error, doing);
  }
}

export function hasErrorName(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}
