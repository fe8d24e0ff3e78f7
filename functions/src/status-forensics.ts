import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { CoordinationTable } from './coordination/table.ts';
import { causeDetails } from './deploy-state.ts';
import type { StoppedTask } from './ecs/rollout.ts';
import { awsCall, hasErrorName, InputInvalid } from './errors.ts';
import { type ReleaseRecord, releaseHistory, safeJson } from './release.ts';

/** How far back `why` looks for the last failure in the release history: one Query page. */
export const failureSearchDepth = 50;

/** The forensics of one failed execution, gathered when it failed and read back for people. */
export interface Forensics {
  app: string;
  env: string;
  executionArn: string;
  /** DescribeExecution's status: FAILED for a rolled-back deploy. */
  status: string;
  startedAt?: string;
  stoppedAt?: string;
  /** Who asked: a push, an alarm, a person; and their reason. */
  request: { source?: string; image?: string; reason?: string; rollback?: boolean };
  /** The history record the execution wrote (rolled back to what, from what), if any. */
  record?: ReleaseRecord;
  error?: string;
  message?: string;
  /** The target deployment that failed (an ECS deployment id). */
  deploymentId?: string;
  /** ECS's circuit breaker rolled the deployment back itself; Gantry followed it. */
  targetRolledBack?: boolean;
  stoppedTasks: StoppedTask[];
  /** The event that settled it (ECS Deployment/Task State Change, an agent's report, the alarm). */
  event?: unknown;
  /** Whatever else the failing step recorded, as it recorded it. */
  otherDetails: Record<string, unknown>;
}

export interface ForensicsDependencies {
  table: CoordinationTable;
  sfn: SFNClient;
  stateMachineArn: string;
}

/**
 * The forensics of an app/env's last failure, or of the execution named (its name or ARN). The last
 * failure is the newest rollback or failed rollback in the release history (one Query); its
 * execution's error and cause (one DescribeExecution) hold what the failing step gathered: stopped
 * tasks with stop codes and exit codes, the event, the deployment. Undefined when there is none.
 */
export async function readForensics(
  deps: ForensicsDependencies,
  where: { app: string; env: string },
  execution?: string,
): Promise<Forensics | undefined> {
  const history = await releaseHistory(deps.table, where.app, where.env, { limit: failureSearchDepth });
  const executionArn =
    execution === undefined
      ? history.find((record) => record.kind !== 'release')?.executionArn
      : execution.startsWith('arn:')
        ? execution
        : `${deps.stateMachineArn.replace(':stateMachine:', ':execution:')}:${execution}`;
  if (executionArn === undefined) return undefined;

  let described: DescribeExecutionCommandOutput;
  try {
    described = await awsCall('describing the execution', () =>
      deps.sfn.send(new DescribeExecutionCommand({ executionArn })),
    );
  } catch (error) {
    if (hasErrorName(error, 'ExecutionDoesNotExist') || hasErrorName(error, 'InvalidArn')) {
      throw new InputInvalid(`no execution ${executionArn} (Step Functions keeps ended executions 90 days)`);
    }
    throw error;
  }
  const request = (safeJson(described.input) ?? {}) as Forensics['request'] & { app?: string; env?: string };
  if (request.app !== where.app || request.env !== where.env) {
    throw new InputInvalid(
      `execution ${executionArn} deployed ${request.app}/${request.env}, not ${where.app}/${where.env}`,
    );
  }
  const { message, details = {} } = causeDetails(
    described.error === undefined
      ? undefined
      : { Error: described.error, ...(described.cause !== undefined && { Cause: described.cause }) },
  );
  const {
    message: _,
    errorType: __,
    errorMessage: ___,
    trace: ____,
    deploymentId,
    ecsRolledBack,
    stoppedTasks,
    event,
    ...otherDetails
  } = details;
  const record = history.find((candidate) => candidate.executionArn === executionArn);
  return {
    ...where,
    executionArn,
    status: described.status ?? 'UNKNOWN',
    ...(described.startDate && { startedAt: described.startDate.toISOString() }),
    ...(described.stopDate && { stoppedAt: described.stopDate.toISOString() }),
    request: {
      ...(request.source !== undefined && { source: request.source }),
      ...(request.image !== undefined && { image: request.image }),
      ...(request.reason !== undefined && { reason: request.reason }),
      ...(request.rollback !== undefined && { rollback: request.rollback }),
    },
    ...(record && { record }),
    ...(described.error !== undefined && { error: described.error, message }),
    ...(typeof deploymentId === 'string' && { deploymentId }),
    ...(typeof ecsRolledBack === 'boolean' && { targetRolledBack: ecsRolledBack }),
    stoppedTasks: Array.isArray(stoppedTasks) ? (stoppedTasks as StoppedTask[]) : [],
    ...(event !== undefined && { event }),
    otherDetails,
  };
}
