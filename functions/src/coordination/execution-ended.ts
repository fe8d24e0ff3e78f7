import { type LockDependencies, releaseLock, wakeWaiter, withdrawWaiter } from '../lock.ts';
import { safeJson } from '../release.ts';
import * as z from '../zod.ts';

/**
 * Step Functions' "Execution Status Change" event, as documented in the Step Functions developer
 * guide ("Automating Step Functions event delivery with EventBridge",
 * https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html): source
 * `aws.states`, detail `{executionArn, stateMachineArn, name, status, startDate, stopDate, input,
 * output, inputDetails, outputDetails, error, cause}`; `input` is the execution input as a JSON
 * string (null when it was too large to include). Delivery is best effort
 * (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html).
 */
const executionStatusChangeSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.looseObject({
    executionArn: z.string(),
    stateMachineArn: z.string(),
    status: z.string(),
    input: z.optional(z.nullable(z.string())),
  }),
});

/** The statuses of an execution that ended without running its own ReleaseLock. */
const deadStatuses = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

const appEnvSchema = z.looseObject({ app: z.string(), env: z.string() });

export type ExecutionEndedOutcome =
  | { action: 'ignored'; why: string }
  | { action: 'cleaned-up'; released: boolean; withdrawn: boolean; woken: boolean };

/**
 * A deploy execution that died (failed, timed out, aborted) may still hold its app/environment's
 * lock or sit in its waiter slot: free both, and resume the next waiter. Every step is a
 * conditional write naming that execution, so a late or repeated event changes nothing.
 */
export async function cleanUpAfterExecution(
  deps: LockDependencies,
  deployStateMachineArn: string,
  event: unknown,
): Promise<ExecutionEndedOutcome> {
  const parsed = executionStatusChangeSchema.safeParse(event);
  if (!parsed.success)
    return { action: 'ignored', why: 'not a Step Functions Execution Status Change event' };
  const { detail } = parsed.data;
  if (detail.stateMachineArn !== deployStateMachineArn) {
    return { action: 'ignored', why: 'not an execution of the deploy state machine' };
  }
  if (!deadStatuses.has(detail.status))
    return {
      action: 'ignored',
      why: `status ${detail.status}: only a failed, timed-out or aborted execution can leave its lock behind`,
    };
  const where = appEnvSchema.safeParse(safeJson(detail.input));
  if (!where.success) {
    // Only a hand-started execution with an oversized input gets here; the waiter's fallback
    // timeout reclaims its lock once DescribeExecution shows it ended.
    return { action: 'ignored', why: 'the event carries no readable input naming the app/environment' };
  }
  const appEnv = { app: where.data.app, env: where.data.env };
  const released = await releaseLock(deps, appEnv, detail.executionArn);
  const withdrawn = await withdrawWaiter(deps.table, appEnv, detail.executionArn);
  const woken = released ? await wakeWaiter(deps, appEnv) : false;
  return { action: 'cleaned-up', released, withdrawn, woken };
}
