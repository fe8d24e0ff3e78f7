import { randomBytes } from 'node:crypto';
import { type DeployRequest, parseDeployRequest } from '../../functions/src/deploy-plan.ts';
import { causeDetails } from '../../functions/src/deploy-state.ts';
import { InputInvalid } from '../../functions/src/errors.ts';
import { parseImageRef } from '../../functions/src/image-ref.ts';
import { startDeploy } from '../../functions/src/start-deploy.ts';
import { readAppEnvStatus } from '../../functions/src/status.ts';
import type { CliContext } from '../context.ts';
import { followExecution } from '../follow.ts';
import { appEnvArguments } from '../names.ts';
import { type ExitCode, exitCodes, type Output, UsageError } from '../output.ts';

export interface WaitOptions {
  wait?: boolean;
  pollSeconds: string;
}

/** A request the state machine would accept, checked before anything starts: bad input exits 2. */
export function deployRequest(fields: Record<string, unknown>): DeployRequest {
  try {
    const request = parseDeployRequest({
      source: 'manual',
      requestedAt: new Date().toISOString(),
      ...fields,
    });
    if (request.image !== undefined) parseImageRef(request.image);
    return request;
  } catch (error) {
    if (error instanceof InputInvalid) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * A manual execution's name: who asked (`cli`), what for, and a random suffix so two deploys of
 * the same image are two executions (Step Functions refuses a reused name: ExecutionAlreadyExists).
 * Names hold at most 80 characters (StartExecution, API reference).
 */
function manualExecutionName(kind: string, app: string, env: string): string {
  return `cli-${kind}-${app}-${env}`.slice(0, 67).concat('-', randomBytes(6).toString('hex'));
}

/**
 * `gantry deploy <app> <env> <image> [--wait]`: starts the deploy state machine as the console
 * would. AWS calls: 1 StartExecution; with --wait, 1 GetExecutionHistory per poll, 1
 * DescribeExecution at the end and the 4 reads of `gantry status`.
 */
export async function deployCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
  image: string,
  options: WaitOptions & { reason?: string },
): Promise<ExitCode> {
  const { app, env } = appEnvArguments(appText, envText);
  const pollSeconds = pollSecondsOf(options.pollSeconds);
  const request = deployRequest({
    app,
    env,
    image,
    ...(options.reason !== undefined && { reason: options.reason }),
  });
  return startAndFollow(context, output, request, manualExecutionName('deploy', app, env), {
    ...options,
    pollSeconds,
  });
}

export function pollSecondsOf(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0.05 || seconds > 60) {
    throw new UsageError(`--poll-seconds "${text}" must be a number from 0.05 to 60`);
  }
  return seconds;
}

/** Starts the execution, then with --wait follows it and exits 0 only if it ended Deployed. */
export async function startAndFollow(
  context: CliContext,
  output: Output,
  request: DeployRequest,
  name: string,
  options: { wait?: boolean; pollSeconds: number },
): Promise<ExitCode> {
  const started = await startDeploy(context.clients.sfn, context.stateMachineArn(), name, request);
  if (!started.started) throw new UsageError(`an execution named ${name} exists already`);
  const { executionArn } = started;
  if (!options.wait) {
    output.out(context.json ? JSON.stringify({ executionArn }) : `started ${executionArn}`);
    return exitCodes.ok;
  }
  output.err(`started ${executionArn}`);
  const begun = Date.now();
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  process.once('SIGINT', onSignal);
  try {
    const ended = await followExecution(context.clients.sfn, executionArn, {
      pollSeconds: options.pollSeconds,
      signal: interrupted.signal,
      onState: (state) =>
        output.err(`  +${String(Math.round((Date.now() - begun) / 1000)).padStart(4)}s  ${state}`),
    });
    if (ended.status === 'RUNNING') {
      output.err(`stopped following; ${executionArn} goes on (gantry status ${request.app} ${request.env})`);
      return exitCodes.interrupted;
    }
    const status = await readAppEnvStatus(
      { ssm: context.clients.ssm, table: context.table(), parameterPrefix: context.parameterPrefix },
      request.app,
      request.env,
    );
    const deployed = ended.status === 'SUCCEEDED' && ended.endState === 'Deployed';
    if (context.json) {
      output.out(
        JSON.stringify({ executionArn, ...ended, status: ended.status, deployed, appEnv: status }, null, 2),
      );
    } else {
      const error = ended.error
        ? ` (${ended.error}: ${causeDetails({ Error: ended.error, ...(ended.cause !== undefined && { Cause: ended.cause }) }).message})`
        : '';
      output.out(`${ended.endState ?? ended.status}${error}`);
      output.out(status.summary);
    }
    return deployed ? exitCodes.ok : exitCodes.failed;
  } finally {
    process.off('SIGINT', onSignal);
  }
}
