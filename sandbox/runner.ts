import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { asCaller } from './caller.ts';
import {
  type AslDefinition,
  type AslState,
  functionKeyOf,
  integrationOf,
  loadDeployDefinition,
  type ResourcePlaceholder,
  readDeployDefinition,
} from './definition.ts';

/** A Lambda handler as the real functions export it (middy-wrapped). */
export type LambdaHandler = (event: never, context: Context) => Promise<unknown>;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  /** State names in the order they were entered: one per state transition. */
  states: string[];
  /** Events the execution's history holds so far, counted as Step Functions records them. */
  historyEvents: number;
}

/**
 * A direct service integration (`arn:aws:states:::dynamodb:deleteItem`…), run against the
 * emulator with the integration's request shape. Rejects with an Error named as the service API
 * names it (`ConditionalCheckFailedException`); the runner prefixes the service, as Step
 * Functions does (`DynamoDB.ConditionalCheckFailedException`).
 */
export type ServiceIntegration = (request: Record<string, unknown>) => Promise<unknown>;

/** The history event that ends an execution of each status (HistoryEventType, @aws-sdk/client-sfn). */
const executionEndEvent: Partial<Record<ExecutionStatus, string>> = {
  SUCCEEDED: 'ExecutionSucceeded',
  FAILED: 'ExecutionFailed',
  ABORTED: 'ExecutionAborted',
  TIMED_OUT: 'ExecutionTimedOut',
};

/** The Step Functions error prefix of each integrated service (Step Functions developer guide, "Call DynamoDB APIs with Step Functions"). */
const integrationErrorPrefix: Record<string, string> = { dynamodb: 'DynamoDB' };

/**
 * Step Functions' quota: 25,000 events in one execution's history; past it the execution fails
 * with `States.Runtime` "The execution reached the maximum number of history events (25000)."
 * (Step Functions developer guide, "Service quotas" and "Using Lambda to continue as new";
 * the error as reported in loads/ardere#86).
 */
export const maxHistoryEvents = 25_000;

/**
 * One event of an execution's history as GetExecutionHistory lists it (API reference,
 * "HistoryEvent"). The runner lists the execution's start and end and each state entered and
 * exited; the Task and Lambda events between them are counted (historyEvents) but not listed.
 */
export interface ListedHistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: Date;
  type: string;
  /** `stateEnteredEventDetails.name` / `stateExitedEventDetails.name`. */
  stateName?: string;
}

export interface StateProgress {
  executionArn: string;
  type: 'entered' | 'retried' | 'caught' | 'succeeded' | 'failed';
  state?: string;
  error?: string;
}

export interface LocalStepFunctionsOptions {
  stateMachineArn: string;
  /** Function key (as in serverless.yml) → its real handler. */
  handlers: Record<string, LambdaHandler>;
  /** Integration (`dynamodb:deleteItem`) → its call against the emulator. */
  integrations?: Record<string, ServiceIntegration>;
  /** The values of the definition's resource placeholders (the coordination table's name). */
  resources: Record<ResourcePlaceholder, string>;
  /** Called with each status change as Step Functions puts it on EventBridge ("Step Functions Execution Status Change" detail). */
  onStatusChange?: (detail: ExecutionStatusChange) => void;
  /**
   * Starts the timer of a task-token wait and returns its cancel function. Default: real time.
   * The sandbox passes its simulated clock, so timeouts and rollouts share one notion of time.
   */
  startTimer?: (seconds: number, onTimeout: () => void) => () => void;
  /** Pause before each retry, in real milliseconds, instead of the definition's backoff (without `clock`). */
  retryDelayMs?: number;
  /** Real milliseconds a `Wait` state pauses, instead of its Seconds (without `clock`). */
  waitMs?: number;
  /**
   * Simulated time (the emulator's clock): with it, each Retry waits the backoff the definition
   * writes and each Wait state its seconds, on this clock, and a running execution holds the clock
   * between states (SimClock.hold), so a virtual clock waits for it.
   */
  clock?: RunnerClock;
  onProgress?: (progress: StateProgress) => void;
}

/** What the runner needs of the simulated clock (SimClock's `sleep` and `hold`). */
export interface RunnerClock {
  sleep(ms: number): Promise<void>;
  hold(): () => void;
  /** Full jitter's draw in [0, 1) (default Math.random; a seeded one makes a run repeatable). */
  random?: () => number;
}

export interface InjectedCrash {
  name: string;
  message: string;
  afterWork?: boolean;
}

export interface Invocation {
  executionArn: string;
  state: string;
  /** The function key, or the service integration (`dynamodb:deleteItem`) of a direct call. */
  functionKey: string;
  /** The execution's input: tells which app/environment the invocation works for. */
  executionInput: string;
}

/** Test and demo hooks, changeable while executions run. */
export interface InvocationHooks {
  /** Called as each Lambda invocation starts. */
  observe?: ((invocation: Invocation) => void) | undefined;
  /**
   * Fault injection: return an error to make this invocation fail as a crashed Lambda would,
   * before its handler runs, or with `afterWork` once the handler has done its work (a timeout
   * after the last AWS call: the step's effects happened, its answer is lost).
   */
  crash?: ((invocation: Invocation) => InjectedCrash | undefined) | undefined;
}

/**
 * The detail of a "Step Functions Execution Status Change" event (Step Functions developer guide,
 * "Automating Step Functions event delivery with EventBridge"): dates in epoch milliseconds,
 * input and output as JSON strings.
 */
export interface ExecutionStatusChange {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate: number | null;
  input: string;
  output: string | null;
  inputDetails: { included: boolean };
  outputDetails: { included: boolean } | null;
  error: string | null;
  cause: string | null;
}

interface Execution extends ExecutionDescription {
  done: Promise<void>;
  abort: () => void;
  historyExceeded?: boolean;
  stopReason?: { error?: string; cause?: string };
}

interface ParkedTask {
  executionArn: string;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
}

/** Errors with the names Step Functions' API uses, so the SDK-facing emulator can pass them on. */
export class StepFunctionsApiError extends Error {
  constructor(
    override readonly name:
      | 'TaskDoesNotExist'
      | 'TaskTimedOut'
      | 'ExecutionAlreadyExists'
      | 'ExecutionDoesNotExist',
    message: string,
  ) {
    super(message);
  }
}

const tokenPlaceholder = 'local-task-token';
/** Node timers overflow past 2^31 ms: the longest wait a timer can express, in seconds. */
const maxTimerSeconds = 2_000_000;

type LocalHandlers = NonNullable<
  NonNullable<NonNullable<Parameters<StateMachine['run']>[1]>['overrides']>['taskResourceLocalHandlers']
>;

/**
 * Runs the real deploy definition with aws-local-stepfunctions, every Task state mapped to the
 * real handler, and `.waitForTaskToken` emulated: the interpreter has none, so the local task
 * parks a fresh token here and settles when someone calls sendTaskSuccess/Failure with it,
 * exactly as Lambda and Step Functions would, or fails with `States.Timeout` when time is up.
 */
export class LocalStepFunctions {
  readonly stateMachineArn: string;
  /** The definition as written, with function placeholders: maps each Task state to its function. */
  private readonly definition: AslDefinition = readDeployDefinition();
  private readonly machine: StateMachine;
  private readonly executions = new Map<string, Execution>();
  private readonly parked = new Map<string, ParkedTask>();
  private readonly expiredTokens = new Set<string>();
  private readonly listedHistory = new Map<string, ListedHistoryEvent[]>();
  /** Each running execution's hold on the clock while it is between states (RunnerClock). */
  private readonly clockHolds = new Map<string, () => void>();
  readonly hooks: InvocationHooks = {};
  /** The history quota executions are held to: Step Functions' 25,000 (tests lower it to see one fail). */
  historyQuota = maxHistoryEvents;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    this.stateMachineArn = options.stateMachineArn;
    const { region, account } = arnParts(options.stateMachineArn);
    const runnable = loadDeployDefinition(
      (key) => `arn:aws:lambda:${region}:${account}:function:gantry-local-${key}`,
      options.resources,
    );
    withSandboxTimeouts(runnable);
    if (options.clock) waitOnClock(runnable);
    for (const [name, state] of Object.entries(this.definition.States)) {
      if (state.Type !== 'Task') continue;
      const integration = integrationOf(state);
      if (integration !== undefined) {
        if (!options.integrations?.[integration])
          throw new Error(`state ${name} calls ${integration}, which the sandbox does not run`);
        continue;
      }
      const key = functionKeyOf(state);
      if (!key || !options.handlers[key])
        throw new Error(`state ${name} runs "${key}", which has no local handler`);
    }
    this.machine = new StateMachine(runnable as never, {
      validationOptions: { checkPaths: true, checkArn: true },
    });
  }

  startExecution(request: { name?: string; input?: string }): { executionArn: string; startDate: Date } {
    const name = request.name ?? randomUUID();
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const input = request.input ?? '{}';
    const existing = this.executions.get(executionArn);
    if (existing) {
      // Step Functions treats a repeated start with the same name and input as the same request.
      if (existing.status === 'RUNNING' && existing.input === input) return existing;
      throw new StepFunctionsApiError('ExecutionAlreadyExists', `execution ${name} already exists`);
    }
    const startDate = new Date();
    // Held from here: the interpreter enters the first state within run().
    const clock = this.options.clock;
    if (clock) this.clockHolds.set(executionArn, clock.hold());
    const run = this.machine.run(JSON.parse(input), {
      overrides: {
        taskResourceLocalHandlers: this.localHandlers(executionArn),
        // On the clock, the local handler sleeps each retry's backoff itself (see retryDelay).
        retryIntervalOverrides: this.everyState(
          'Task',
          this.options.clock ? 0 : (this.options.retryDelayMs ?? 0),
        ),
        waitTimeOverrides: this.options.clock ? {} : this.everyState('Wait', this.options.waitMs ?? 0),
      },
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          StartTime: startDate.toISOString(),
          Input: JSON.parse(input),
        },
        StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineArn.split(':').pop() },
        Task: { Token: tokenPlaceholder },
      },
    });
    const execution: Execution = {
      executionArn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate,
      input,
      states: [],
      historyEvents: 1, // ExecutionStarted
      abort: run.abort,
      done: Promise.resolve(),
    };
    this.executions.set(executionArn, execution);
    this.list(execution, 'ExecutionStarted');
    this.announce(execution);
    const logs = this.followLogs(execution, run.eventLogs);
    execution.done = run.result
      .then(
        (output) => this.finish(execution, { status: 'SUCCEEDED', output: JSON.stringify(output) }),
        (error: unknown) => this.finish(execution, failureOf(error)),
      )
      .then(() => logs)
      // The end event closes the history, after the last state's Exited event (the interpreter
      // settles its result before its event log is drained).
      .then(() => this.list(execution, executionEndEvent[execution.status] ?? 'ExecutionFailed'));
    return { executionArn, startDate };
  }

  describeExecution(executionArn: string): ExecutionDescription {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new StepFunctionsApiError('ExecutionDoesNotExist', `no execution ${executionArn}`);
    const { done: _, abort: __, historyExceeded: ___, stopReason: ____, ...description } = execution;
    return { ...description, states: [...execution.states] };
  }

  /** The listed part of the execution's history, oldest first (GetExecutionHistory). */
  executionHistory(executionArn: string): ListedHistoryEvent[] {
    const listed = this.listedHistory.get(executionArn);
    if (!listed) throw new StepFunctionsApiError('ExecutionDoesNotExist', `no execution ${executionArn}`);
    return [...listed];
  }

  private list(execution: Execution, type: string, stateName?: string): void {
    const listed = this.listedHistory.get(execution.executionArn) ?? [];
    this.listedHistory.set(execution.executionArn, listed);
    // Ids count every event recorded, listed or not, as Step Functions numbers them.
    const id = Math.max(execution.historyEvents, (listed.at(-1)?.id ?? 0) + 1);
    listed.push({
      id,
      previousEventId: listed.at(-1)?.id ?? 0,
      timestamp: new Date(),
      type,
      ...(stateName !== undefined && { stateName }),
    });
  }

  listExecutions(): ExecutionDescription[] {
    return [...this.executions.keys()].map((arn) => this.describeExecution(arn));
  }

  /** Resolves when the execution has ended, with its description. */
  async waitForExecution(executionArn: string): Promise<ExecutionDescription> {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new StepFunctionsApiError('ExecutionDoesNotExist', `no execution ${executionArn}`);
    await execution.done;
    return this.describeExecution(executionArn);
  }

  /** Resolves when every execution started so far (and any they started) has ended. */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.executions.values()].filter((execution) => execution.status === 'RUNNING');
      if (running.length === 0) return;
      await Promise.all(running.map((execution) => execution.done));
    }
  }

  /**
   * Stops an execution as `StopExecution` or a crashed Step Functions worker would: ABORTED,
   * with the error and cause given (StopExecution's, API reference).
   */
  abortExecution(executionArn: string, reason: { error?: string; cause?: string } = {}): void {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new StepFunctionsApiError('ExecutionDoesNotExist', `no execution ${executionArn}`);
    if (execution.status !== 'RUNNING') return;
    execution.stopReason = reason;
    execution.abort();
  }

  sendTaskSuccess(taskToken: string, output: string): void {
    this.takeParked(taskToken).resolve(JSON.parse(output));
  }

  sendTaskFailure(taskToken: string, error = 'States.TaskFailed', cause = ''): void {
    this.takeParked(taskToken).reject(named(error, cause));
  }

  /** Nothing to extend: the parked task's timeout is fixed. Only an unknown token is an error. */
  sendTaskHeartbeat(taskToken: string): void {
    if (!this.parked.has(taskToken)) throw this.unknownToken(taskToken);
  }

  private takeParked(taskToken: string): ParkedTask {
    const parked = this.parked.get(taskToken);
    if (!parked) throw this.unknownToken(taskToken);
    this.parked.delete(taskToken);
    this.expiredTokens.add(taskToken);
    return parked;
  }

  private unknownToken(taskToken: string): StepFunctionsApiError {
    return this.expiredTokens.has(taskToken)
      ? new StepFunctionsApiError('TaskTimedOut', 'task timed out')
      : new StepFunctionsApiError('TaskDoesNotExist', 'no task is waiting on that token');
  }

  private localHandlers(executionArn: string): LocalHandlers {
    const handlers: LocalHandlers = {};
    const clock = this.options.clock;
    if (clock) {
      // Each Retry's attempts so far, by state, as the interpreter counts them (reset on leaving).
      const attempts = new Map<string, number[]>();
      for (const [stateName, handler] of Object.entries(this.taskHandlers(executionArn))) {
        handlers[stateName] = async (input) => {
          // Inside the task the Lambda's own calls hold the clock; sleeping, nothing does.
          this.pauseWork(executionArn);
          try {
            const output = await handler(input);
            attempts.delete(stateName);
            return output;
          } catch (error) {
            const delayMs = this.retryDelay(stateName, error as Error, attempts, clock.random ?? Math.random);
            if (delayMs === undefined) attempts.delete(stateName);
            else await clock.sleep(delayMs);
            throw error;
          } finally {
            this.resumeWork(executionArn);
          }
        };
      }
      for (const [stateName, state] of Object.entries(this.definition.States)) {
        if (state.Type !== 'Wait') continue;
        handlers[stateName] = async (input) => {
          this.pauseWork(executionArn);
          try {
            await clock.sleep(waitSeconds(state, input) * 1000);
            return input;
          } finally {
            this.resumeWork(executionArn);
          }
        };
      }
      return handlers;
    }
    return this.taskHandlers(executionArn);
  }

  private pauseWork(executionArn: string): void {
    this.clockHolds.get(executionArn)?.();
    this.clockHolds.delete(executionArn);
  }

  private resumeWork(executionArn: string): void {
    const clock = this.options.clock;
    if (clock && this.executions.get(executionArn)?.status === 'RUNNING')
      this.clockHolds.set(executionArn, clock.hold());
  }

  /**
   * The backoff before the interpreter's next attempt, if it will retry: the first retrier whose
   * ErrorEquals names the error (`States.ALL`; `States.TaskFailed` for any but `States.Timeout`)
   * retries while its attempts are below MaxAttempts (default 3), after IntervalSeconds (default
   * 1) × BackoffRate (default 2) ^ attempts so far, at most MaxDelaySeconds, drawn uniformly
   * between 0 and that with JitterStrategy FULL (Step Functions developer guide, "Handling errors
   * in Step Functions workflows", "Retrying after an error":
   * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
   * Undefined when it will not retry (the state then leaves, caught or failed). The interpreter
   * (aws-local-stepfunctions `StateExecutor.shouldRetry`) makes the same choice, with its own
   * backoff set to 0 by `retryIntervalOverrides`.
   */
  private retryDelay(
    stateName: string,
    error: Error,
    attempts: Map<string, number[]>,
    random: () => number,
  ): number | undefined {
    const retriers = (this.definition.States[stateName]?.Retry ?? []) as AslRetrier[];
    const counts = attempts.get(stateName) ?? retriers.map(() => 0);
    attempts.set(stateName, counts);
    if ((error as { isRetryable?: boolean }).isRetryable === false) return undefined;
    for (const [index, retrier] of retriers.entries()) {
      const matches = retrier.ErrorEquals.some(
        (name) =>
          name === error.name ||
          name === 'States.ALL' ||
          (name === 'States.TaskFailed' && error.name !== 'States.Timeout'),
      );
      if (!matches) continue;
      const done = counts[index] ?? 0;
      if (done >= (retrier.MaxAttempts ?? 3)) return undefined;
      counts[index] = done + 1;
      const ceilingSeconds = Math.min(
        (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** done,
        retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY,
      );
      return (retrier.JitterStrategy === 'FULL' ? random() : 1) * ceilingSeconds * 1000;
    }
    return undefined;
  }

  private taskHandlers(executionArn: string): LocalHandlers {
    const handlers: LocalHandlers = {};
    for (const [stateName, state] of Object.entries(this.definition.States)) {
      if (state.Type !== 'Task') continue;
      const integration = integrationOf(state);
      if (integration !== undefined) {
        handlers[stateName] = async (input) =>
          this.callIntegration(
            {
              executionArn,
              state: stateName,
              functionKey: integration,
              executionInput: this.inputOf(executionArn),
            },
            input as never,
          ) as never;
        continue;
      }
      const key = functionKeyOf(state) ?? '';
      const waits = state.Resource?.endsWith('.waitForTaskToken') ?? false;
      handlers[stateName] = async (input) => {
        const invocation = {
          executionArn,
          state: stateName,
          functionKey: key,
          executionInput: this.inputOf(executionArn),
        };
        return (
          waits ? this.invokeAndPark(invocation, state, input) : this.invoke(invocation, input)
        ) as never;
      };
    }
    return handlers;
  }

  private inputOf(executionArn: string): string {
    return this.executions.get(executionArn)?.input ?? '{}';
  }

  private async invoke(invocation: Invocation, event: unknown): Promise<unknown> {
    const { functionKey } = invocation;
    this.hooks.observe?.(invocation);
    const crash = this.hooks.crash?.(invocation);
    if (crash && !crash.afterWork) throw lambdaError(crash);
    const handler = this.options.handlers[functionKey];
    if (!handler) throw new Error(`no local handler for ${functionKey}`);
    let result: unknown;
    try {
      // A real invocation gets its own copy of the payload; never share objects between states.
      result = await asCaller(functionKey, () =>
        handler(structuredClone(event) as never, lambdaContext(functionKey)),
      );
    } catch (error) {
      throw lambdaError(error as Error);
    }
    if (crash) throw lambdaError(crash);
    return result;
  }

  /** A service integration: Step Functions itself calls the service (observed like an invocation). */
  private async callIntegration(invocation: Invocation, request: Record<string, unknown>): Promise<unknown> {
    const integration = invocation.functionKey;
    const call = this.options.integrations?.[integration];
    if (!call) throw new Error(`no sandbox implementation of ${integration}`);
    this.hooks.observe?.(invocation);
    try {
      return await call(request);
    } catch (error) {
      const failure = error as Error;
      const prefix = integrationErrorPrefix[integration.split(':')[0] ?? ''] ?? integration;
      throw named(`${prefix}.${failure.name}`, failure.message);
    }
  }

  private async invokeAndPark(invocation: Invocation, state: AslState, input: unknown) {
    const { executionArn } = invocation;
    const { Payload } = input as { Payload: Record<string, unknown> };
    const taskToken = `${randomUUID()}${randomUUID()}`;
    const settled = new Promise<unknown>((resolve, reject) => {
      this.parked.set(taskToken, { executionArn, resolve, reject });
    });
    const timeoutSeconds =
      typeof state.TimeoutSeconds === 'number'
        ? state.TimeoutSeconds
        : typeof Payload.timeoutSeconds === 'number'
          ? Payload.timeoutSeconds
          : maxTimerSeconds;
    let cancelTimer = () => {};
    const timedOut = new Promise<never>((_, reject) => {
      cancelTimer = (this.options.startTimer ?? realTimer)(timeoutSeconds, () => {
        this.parked.delete(taskToken);
        this.expiredTokens.add(taskToken);
        reject(named('States.Timeout', 'the task token was not returned in time'));
      });
    });
    // The wait's own Lambda may resume (or fail) the task before it returns, that is before the
    // race below listens: mark both as handled now, the race still sees their outcome.
    settled.catch(() => undefined);
    timedOut.catch(() => undefined);
    try {
      await this.invoke(invocation, { ...Payload, taskToken });
      return await Promise.race([settled, timedOut]);
    } catch (error) {
      this.parked.delete(taskToken);
      throw error;
    } finally {
      cancelTimer();
    }
  }

  private everyState(type: string, value: number): Record<string, number> {
    return Object.fromEntries(
      Object.entries(this.definition.States)
        .filter(([, state]) => state.Type === type)
        .map(([name]) => [name, value]),
    );
  }

  private async followLogs(
    execution: Execution,
    logs: ReturnType<StateMachine['run']>['eventLogs'],
  ): Promise<void> {
    const report = (progress: Omit<StateProgress, 'executionArn'>) =>
      this.options.onProgress?.({ executionArn: execution.executionArn, ...progress });
    for await (const event of logs) {
      // A Wait state the sandbox runs as a Task on the clock (waitOnClock) is listed as a Wait.
      const type =
        'state' in event ? (this.definition.States[event.state.name]?.Type ?? event.state.type) : '';
      if (event.type === 'StateEntered') {
        execution.states.push(event.state.name);
        report({ type: 'entered', state: event.state.name });
        this.record(execution, 1);
        this.list(execution, `${type}StateEntered`, event.state.name);
        this.record(execution, this.taskEventsOf(event.state.name));
      } else if (event.type === 'StateExited') {
        this.record(execution, 1);
        // Fail states have no Exited event (HistoryEventType, @aws-sdk/client-sfn).
        if (type !== 'Fail') this.list(execution, `${type}StateExited`, event.state.name);
      } else if (event.type === 'StateRetried') {
        report({ type: 'retried', state: event.state.name });
        this.record(execution, this.taskEventsOf(event.state.name));
      } else if (event.type === 'StateCaught') {
        report({ type: 'caught', state: event.state.name });
      }
    }
  }

  /**
   * Step Functions records, per Task attempt, TaskScheduled, TaskStarted and TaskSucceeded or
   * TaskFailed (LambdaFunction* for a plain Lambda ARN), plus TaskSubmitted for a
   * `.waitForTaskToken` task; every state adds its Entered and Exited events
   * (API reference, "HistoryEvent").
   */
  private taskEventsOf(stateName: string): number {
    const state = this.definition.States[stateName];
    if (state?.Type !== 'Task') return 0;
    return state.Resource?.endsWith('.waitForTaskToken') ? 4 : 3;
  }

  /** Adds history events; past the quota the execution fails as on AWS. */
  private record(execution: Execution, events: number): void {
    execution.historyEvents += events;
    if (
      execution.historyEvents > this.historyQuota &&
      execution.status === 'RUNNING' &&
      !execution.historyExceeded
    ) {
      execution.historyExceeded = true;
      execution.abort();
    }
  }

  private finish(
    execution: Execution,
    end: Partial<ExecutionDescription> & { status: ExecutionStatus },
  ): void {
    const ended = execution.historyExceeded
      ? {
          status: 'FAILED' as const,
          error: 'States.Runtime',
          cause: `The execution reached the maximum number of history events (${this.historyQuota}).`,
        }
      : end.status === 'ABORTED' && execution.stopReason
        ? { ...end, ...execution.stopReason }
        : end;
    Object.assign(execution, ended, { stopDate: new Date() });
    this.pauseWork(execution.executionArn);
    execution.historyEvents += 1; // ExecutionSucceeded / Failed / Aborted
    for (const [token, parked] of this.parked) {
      if (parked.executionArn === execution.executionArn) this.parked.delete(token);
    }
    this.announce(execution);
    this.options.onProgress?.({
      executionArn: execution.executionArn,
      type: ended.status === 'SUCCEEDED' ? 'succeeded' : 'failed',
      ...(ended.error !== undefined && { error: ended.error }),
    });
  }

  private announce(execution: Execution): void {
    this.options.onStatusChange?.({
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: execution.startDate.getTime(),
      stopDate: execution.stopDate?.getTime() ?? null,
      input: execution.input,
      output: execution.output ?? null,
      inputDetails: { included: true },
      outputDetails: execution.status === 'RUNNING' ? null : { included: true },
      error: execution.error ?? null,
      cause: execution.cause ?? null,
    });
  }
}

function realTimer(seconds: number, onTimeout: () => void): () => void {
  const timer = setTimeout(onTimeout, Math.min(seconds, maxTimerSeconds) * 1000);
  return () => clearTimeout(timer);
}

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** What Step Functions sees when a Lambda throws: the name as Error, Lambda's JSON as Cause. */
function lambdaError(error: { name: string; message: string }): Error {
  return named(error.name, JSON.stringify({ errorType: error.name, errorMessage: error.message, trace: [] }));
}

function failureOf(error: unknown): Partial<ExecutionDescription> & { status: ExecutionStatus } {
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    return { status: 'FAILED', error: error.cause.name, cause: error.cause.message };
  }
  const failure = error as Error;
  if (failure?.name === 'ExecutionAbortedError') return { status: 'ABORTED' };
  return { status: 'FAILED', error: failure?.name ?? 'Error', cause: failure?.message ?? String(error) };
}

function arnParts(arn: string): { region: string; account: string } {
  const [, , , region = 'us-east-1', account = '000000000000'] = arn.split(':');
  return { region, account };
}

/**
 * Real milliseconds a sandbox invocation may run before middy's early timeout fails it. Not the
 * functions' 30 s (serverless.yml `provider.timeout`): on AWS that measures one instance's own run
 * time, here every invocation shares one process, so real time also counts the other executions'
 * work and the machine's load; a 100-push burst on a loaded 2-core machine held AcquireLock
 * invocations past 30 s and failed them with middy's `TimeoutError`. Lambda's maximum timeout,
 * 900 s (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html), is kept as a hang
 * guard; tests that need a step to time out inject it with `hooks.crash`.
 */
const invocationDeadlineMs = 900_000;

/**
 * The interpreter's Task timeouts, adapted to the sandbox (edits `runnable`). It times every Task in
 * real time. A parked task enforces its timeout itself, on the simulated clock, and the interpreter
 * resolves TimeoutSecondsPath against the state's effective input (after Parameters), Step Functions
 * against its raw input: the interpreter's goes. A plain Task's TimeoutSeconds bounds one
 * invocation, which real time in this shared process measures no better than the Lambda context's
 * deadline does: it becomes the same hang guard (a 100-push burst on a loaded machine once ran a
 * ResolveConfig past its 60 s and failed it with States.Timeout).
 */
export function withSandboxTimeouts(runnable: AslDefinition): AslDefinition {
  for (const state of Object.values(runnable.States)) {
    if (state.Resource?.endsWith('.waitForTaskToken')) {
      delete state.TimeoutSecondsPath;
      state.TimeoutSeconds = maxTimerSeconds;
    } else if (state.Type === 'Task' && typeof state.TimeoutSeconds === 'number') {
      state.TimeoutSeconds = Math.max(state.TimeoutSeconds, invocationDeadlineMs / 1000);
    }
  }
  return runnable;
}

/** One entry of a state's Retry (Amazon States Language). */
interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * Wait states as Tasks of a local handler that sleeps on the simulated clock (edits `runnable`):
 * the interpreter's own Wait sleeps in real time, which a virtual clock would not wait for.
 */
function waitOnClock(runnable: AslDefinition): void {
  for (const [name, state] of Object.entries(runnable.States)) {
    if (state.Type !== 'Wait') continue;
    runnable.States[name] = {
      Type: 'Task',
      Resource: `arn:aws:lambda:us-east-1:000000000000:function:gantry-local-sandbox-wait`,
      ...(state.Next !== undefined && { Next: state.Next }),
      ...(state.End !== undefined && { End: state.End }),
    };
  }
}

/** A Wait state's seconds: `Seconds`, or `SecondsPath` (a `$.a.b` path) into its input. */
function waitSeconds(state: AslState, input: unknown): number {
  if (typeof state.Seconds === 'number') return state.Seconds;
  const path = state.SecondsPath;
  if (typeof path !== 'string' || !/^\$(\.\w+)+$/.test(path))
    throw new Error(
      `the sandbox runs Wait states with Seconds or a $.a.b SecondsPath, not ${JSON.stringify(state)}`,
    );
  let value: unknown = input;
  for (const key of path.split('.').slice(1)) value = (value as Record<string, unknown> | undefined)?.[key];
  if (typeof value !== 'number') throw named('States.Runtime', `${path} is not a number`);
  return value;
}

/** The Context a handler gets from Lambda, with the fields Powertools reads. */
export function lambdaContext(functionKey: string): Context {
  const deadline = Date.now() + invocationDeadlineMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `gantry-local-${functionKey}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:gantry-local-${functionKey}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/gantry-local-${functionKey}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
