import {
  AwsError,
  compact,
  epochSeconds,
  type JsonObject,
  type Params,
  REDACTED,
  type ServiceDefinition,
} from './protocol.ts';
import { TokenBucket } from './quota.ts';

/**
 * Step Functions' API throttling (bucket size, refill per second), per account and region, for the
 * calls Gantry makes (Step Functions developer guide, "Step Functions service quotas", quotas
 * related to API action throttling: https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
 * US East (N. Virginia), US West (Oregon) and Europe (Ireland) have the larger buckets.
 */
export const SFN_API_QUOTAS = {
  large: {
    StartExecution: { bucketSize: 1300, refillPerSecond: 300 },
    DescribeExecution: { bucketSize: 300, refillPerSecond: 15 },
    ListExecutions: { bucketSize: 200, refillPerSecond: 5 },
    StopExecution: { bucketSize: 1000, refillPerSecond: 200 },
    SendTaskSuccess: { bucketSize: 3000, refillPerSecond: 500 },
    SendTaskFailure: { bucketSize: 3000, refillPerSecond: 500 },
    SendTaskHeartbeat: { bucketSize: 3000, refillPerSecond: 500 },
  },
  other: {
    StartExecution: { bucketSize: 800, refillPerSecond: 150 },
    DescribeExecution: { bucketSize: 250, refillPerSecond: 10 },
    ListExecutions: { bucketSize: 100, refillPerSecond: 2 },
    StopExecution: { bucketSize: 500, refillPerSecond: 25 },
    SendTaskSuccess: { bucketSize: 1500, refillPerSecond: 300 },
    SendTaskFailure: { bucketSize: 1500, refillPerSecond: 300 },
    SendTaskHeartbeat: { bucketSize: 1500, refillPerSecond: 300 },
  },
} as const;

const largeQuotaRegions = new Set(['us-east-1', 'us-west-2', 'eu-west-1']);

/** What DescribeExecution answers, as the local runner knows it. */
export interface ExecutionDescription {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';
  readonly startDate: Date;
  readonly stopDate?: Date;
  readonly input?: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

/** One history event as the runner lists it. */
export interface HistoryEventDescription {
  readonly id: number;
  readonly previousEventId: number;
  readonly timestamp: Date;
  readonly type: string;
  /** The state entered or exited, for `*StateEntered` / `*StateExited` events. */
  readonly stateName?: string;
}

/**
 * The local runner's implementation of the Step Functions calls Gantry makes. The emulator runs no
 * state machine itself. A hook rejects with an Error whose `name` is an SFN error name
 * ({@link SFN_ERROR_NAMES}) to answer that error.
 */
export interface SfnHandlers {
  startExecution(input: {
    stateMachineArn: string;
    name?: string;
    input?: string;
  }): Promise<{ executionArn: string; startDate: Date }> | { executionArn: string; startDate: Date };
  describeExecution(executionArn: string): Promise<ExecutionDescription> | ExecutionDescription;
  sendTaskSuccess(taskToken: string, output: string): Promise<void> | void;
  sendTaskFailure(
    taskToken: string,
    error: string | undefined,
    cause: string | undefined,
  ): Promise<void> | void;
  sendTaskHeartbeat(taskToken: string): Promise<void> | void;
  /** Every execution of the state machine, newest first (ListExecutions). */
  listExecutions(stateMachineArn: string): Promise<ExecutionDescription[]> | ExecutionDescription[];
  /** The execution's history events the runner lists, oldest first (GetExecutionHistory). */
  getExecutionHistory?(executionArn: string): Promise<HistoryEventDescription[]> | HistoryEventDescription[];
  stopExecution(
    executionArn: string,
    error: string | undefined,
    cause: string | undefined,
  ): Promise<Date> | Date;
}

/** Error names a hook may throw that reach the SDK caller unchanged. */
export const SFN_ERROR_NAMES = [
  'ExecutionAlreadyExists',
  'ExecutionDoesNotExist',
  'ExecutionLimitExceeded',
  'InvalidArn',
  'InvalidExecutionInput',
  'InvalidName',
  'InvalidOutput',
  'InvalidToken',
  'StateMachineDoesNotExist',
  'TaskDoesNotExist',
  'TaskTimedOut',
  'ValidationException',
] as const;

export class SfnHooks {
  #handlers: SfnHandlers | undefined;
  #buckets: Map<string, TokenBucket> | undefined;

  /**
   * Throttles each call on its own token bucket ({@link SFN_API_QUOTAS} for the region) on `now`,
   * answering `ThrottlingException` as AWS does (Step Functions API Reference, "Common Errors":
   * ThrottlingException, HTTP 400), which the SDK retries with backoff.
   */
  useQuotas(region: string, now: () => number): void {
    const quotas = SFN_API_QUOTAS[largeQuotaRegions.has(region) ? 'large' : 'other'];
    this.#buckets = new Map(
      Object.entries(quotas).map(([operation, quota]) => [operation, new TokenBucket(quota, now)]),
    );
  }

  /** Calls each operation's bucket throttled so far (empty without quotas). */
  throttledCalls(): Record<string, number> {
    return Object.fromEntries(
      [...(this.#buckets ?? [])].map(([operation, bucket]) => [operation, bucket.throttled]),
    );
  }

  /** Installs the runner's hooks (replacing any previous ones). */
  setHandlers(handlers: SfnHandlers): void {
    this.#handlers = handlers;
  }

  clearHandlers(): void {
    this.#handlers = undefined;
  }

  async #call<T>(operation: string, run: (handlers: SfnHandlers) => Promise<T> | T): Promise<T> {
    if (this.#buckets?.get(operation)?.take() === false) {
      throw new AwsError('ThrottlingException', 'Rate exceeded');
    }
    const handlers = this.#handlers;
    if (handlers === undefined) {
      throw new AwsError(
        'EmulatorNotConfigured',
        `Step Functions ${operation}: the sandbox emulator runs no state machine; the local runner must install handlers with emulator.sfn.setHandlers()`,
      );
    }
    try {
      return await run(handlers);
    } catch (error) {
      if (error instanceof Error && (SFN_ERROR_NAMES as readonly string[]).includes(error.name)) {
        throw new AwsError(error.name, error.message);
      }
      // Not retryable on purpose: a crashing hook is a bug in the runner, not a transient fault.
      throw new AwsError(
        'EmulatorHookFailed',
        `Step Functions ${operation}: the runner's hook failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  service(): ServiceDefinition {
    return {
      name: 'sfn',
      targetPrefix: 'AWSStepFunctions',
      validationError: 'ValidationException',
      redact: (_operation: string, input: JsonObject) =>
        input.taskToken === undefined ? input : { ...input, taskToken: REDACTED },
      operations: {
        StartExecution: {
          keys: ['stateMachineArn', 'name', 'input'],
          handle: async (p: Params) => {
            const request = compact({
              stateMachineArn: p.requiredString('stateMachineArn'),
              name: p.string('name'),
              input: p.string('input'),
            });
            if (request.input !== undefined) {
              try {
                JSON.parse(request.input);
              } catch {
                throw new AwsError(
                  'InvalidExecutionInput',
                  'Invalid State Machine Execution Input: not JSON',
                );
              }
            }
            const started = await this.#call('StartExecution', (h) => h.startExecution(request));
            return {
              executionArn: started.executionArn,
              startDate: epochSeconds(started.startDate.getTime()),
            };
          },
        },
        DescribeExecution: {
          keys: ['executionArn'],
          handle: async (p: Params) => {
            const arn = p.requiredString('executionArn');
            const d = await this.#call('DescribeExecution', (h) => h.describeExecution(arn));
            return compact({
              ...executionSummary(d),
              input: d.input,
              output: d.output,
              error: d.error,
              cause: d.cause,
            });
          },
        },
        SendTaskSuccess: {
          keys: ['taskToken', 'output'],
          handle: async (p: Params) => {
            const token = p.requiredString('taskToken');
            const output = p.requiredString('output');
            try {
              JSON.parse(output);
            } catch {
              throw new AwsError('InvalidOutput', 'SendTaskSuccess: output is not JSON');
            }
            await this.#call('SendTaskSuccess', (h) => h.sendTaskSuccess(token, output));
            return {};
          },
        },
        SendTaskFailure: {
          keys: ['taskToken', 'error', 'cause'],
          handle: async (p: Params) => {
            const token = p.requiredString('taskToken');
            const error = p.string('error');
            const cause = p.string('cause');
            await this.#call('SendTaskFailure', (h) => h.sendTaskFailure(token, error, cause));
            return {};
          },
        },
        ListExecutions: {
          keys: ['stateMachineArn', 'statusFilter', 'maxResults', 'nextToken'],
          handle: async (p: Params) => {
            const stateMachineArn = p.requiredString('stateMachineArn');
            const statusFilter = p.string('statusFilter');
            const maxResults = p.number('maxResults') ?? 100;
            if (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > 1000) {
              throw p.invalid("'maxResults' must be between 0 and 1000");
            }
            const all = await this.#call('ListExecutions', (h) => h.listExecutions(stateMachineArn));
            const matching = all.filter((d) => statusFilter === undefined || d.status === statusFilter);
            const start = Number(p.string('nextToken') ?? '0');
            const size = maxResults === 0 ? 100 : maxResults;
            const page = matching.slice(start, start + size);
            return compact({
              executions: page.map((d) => compact(executionSummary(d))),
              nextToken: start + size < matching.length ? String(start + size) : undefined,
            });
          },
        },
        StopExecution: {
          keys: ['executionArn', 'error', 'cause'],
          handle: async (p: Params) => {
            const arn = p.requiredString('executionArn');
            const stopDate = await this.#call('StopExecution', (h) =>
              h.stopExecution(arn, p.string('error'), p.string('cause')),
            );
            return { stopDate: epochSeconds(stopDate.getTime()) };
          },
        },
        // API reference, GetExecutionHistory: pages of at most 1000 events (default 100),
        // `reverseOrder` newest first, state names in `stateEnteredEventDetails` /
        // `stateExitedEventDetails`. Only the events the runner lists are answered (README).
        GetExecutionHistory: {
          keys: ['executionArn', 'maxResults', 'nextToken', 'reverseOrder', 'includeExecutionData'],
          handle: async (p: Params) => {
            const arn = p.requiredString('executionArn');
            const maxResults = p.number('maxResults') ?? 100;
            if (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > 1000) {
              throw p.invalid("'maxResults' must be between 0 and 1000");
            }
            const listed = await this.#call('GetExecutionHistory', (h) => {
              if (h.getExecutionHistory === undefined) {
                throw new Error('the runner lists no execution history');
              }
              return h.getExecutionHistory(arn);
            });
            const ordered = p.boolean('reverseOrder') === true ? [...listed].reverse() : listed;
            const start = Number(p.string('nextToken') ?? '0');
            const size = maxResults === 0 ? 100 : maxResults;
            return compact({
              events: ordered.slice(start, start + size).map((event) =>
                compact({
                  id: event.id,
                  previousEventId: event.previousEventId,
                  timestamp: epochSeconds(event.timestamp.getTime()),
                  type: event.type,
                  ...(event.stateName !== undefined &&
                    (event.type.endsWith('StateEntered')
                      ? { stateEnteredEventDetails: { name: event.stateName } }
                      : { stateExitedEventDetails: { name: event.stateName } })),
                }),
              ),
              nextToken: start + size < ordered.length ? String(start + size) : undefined,
            });
          },
        },
        SendTaskHeartbeat: {
          keys: ['taskToken'],
          handle: async (p: Params) => {
            const token = p.requiredString('taskToken');
            await this.#call('SendTaskHeartbeat', (h) => h.sendTaskHeartbeat(token));
            return {};
          },
        },
      },
    };
  }
}

/** The fields DescribeExecution and ListExecutions both answer for an execution. */
function executionSummary(d: ExecutionDescription) {
  return {
    executionArn: d.executionArn,
    stateMachineArn: d.stateMachineArn,
    name: d.name,
    status: d.status,
    startDate: epochSeconds(d.startDate.getTime()),
    stopDate: d.stopDate === undefined ? undefined : epochSeconds(d.stopDate.getTime()),
  };
}
