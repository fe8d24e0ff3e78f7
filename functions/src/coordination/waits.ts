import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { awsCall } from '../errors.ts';
import { safeJson } from '../release.ts';
import * as z from '../zod.ts';
import {
  type CoordinationTable,
  conditionalWrite,
  expiresIn,
  keyOf,
  s,
  stringOf,
  ttlAttribute,
  waitPartition,
  waitSortKey,
} from './table.ts';
import { resumeTask } from './task-tokens.ts';

/**
 * A paused execution waiting on one target deployment, whatever the target: keyed by the
 * deployment id, so the event that names the deployment finds the token without a scan. Each
 * target adds what its verdict needs (ECS: cluster, service, maxFailedTasks).
 */
export const parkedWaitSchema = z.object({
  taskToken: z.string(),
  deploymentId: z.string(),
  /** The state's timeout: the item expires (TTL) a day after it stopped mattering; the sandbox also times the wait with it. */
  timeoutSeconds: z.optional(z.number()),
});
export type ParkedWait = z.infer<typeof parkedWaitSchema>;

export interface WaitDependencies {
  table: CoordinationTable;
  sfn: SFNClient;
  now: () => Date;
}

/** A wait's verdict once the deployment ended: what the execution resumes with. */
export type SettledVerdict =
  | { outcome: 'completed'; deploymentId: string }
  /** A staged rollout paused at a hook Gantry decides: the execution resumes to decide it. */
  | { outcome: 'gate'; deploymentId: string; hookId: string; lifecycleStage: string }
  | { outcome: 'failed'; error: string; message: string; deploymentId: string; [detail: string]: unknown };

/** Step Functions limits a failure cause to 32 768 characters (SendTaskFailure `cause`, API reference). */
const maxCauseLength = 32_768;
/** An orphaned item (its execution died) lingers at most this long after its wait's timeout. */
const orphanGraceSeconds = 24 * 3600;

/**
 * Parks the execution's task token against the deployment, then takes one look: the deployment
 * may have ended (and its event been delivered) before the token was stored.
 */
export async function registerRolloutWait<
  Wait extends ParkedWait,
  Verdict extends SettledVerdict | { outcome: 'pending' },
>(deps: WaitDependencies, wait: Wait, look: (wait: Wait) => Promise<Verdict>): Promise<Verdict> {
  await park(deps, wait);
  const verdict = await look(wait);
  if (verdict.outcome !== 'pending') await settleRollout(deps, wait, verdict as SettledVerdict);
  return verdict;
}

export async function readRolloutWait<Wait extends ParkedWait>(
  deps: WaitDependencies,
  deploymentId: string,
  schema: z.ZodMiniType<Wait>,
): Promise<Wait | undefined> {
  const { Item } = await awsCall('reading the parked wait', () =>
    deps.table.dynamodb.send(
      new GetItemCommand({
        TableName: deps.table.tableName,
        Key: keyOf(waitPartition(deploymentId), waitSortKey),
        ConsistentRead: true,
      }),
    ),
  );
  // Whatever the item holds, the schema decides: a missing token or unreadable details fail it.
  const parsed = schema.safeParse(
    Object.assign({}, safeJson(stringOf(Item, 'wait')), { taskToken: stringOf(Item, 'taskToken') }),
  );
  return parsed.success ? parsed.data : undefined;
}

/** Removes the parked token without resuming anyone: the execution stopped waiting by itself. */
export async function withdrawRolloutWait(deps: WaitDependencies, deploymentId: string): Promise<void> {
  await awsCall('withdrawing the parked wait', () =>
    deps.table.dynamodb.send(
      new DeleteItemCommand({
        TableName: deps.table.tableName,
        Key: keyOf(waitPartition(deploymentId), waitSortKey),
      }),
    ),
  );
}

/**
 * Resumes the waiting execution exactly once: a conditional delete of the parked item (the same
 * token still there) is the claim, so of two racing resumers (an event and the timeout fallback,
 * or a redelivered event) only one sends.
 */
export async function settleRollout(
  deps: WaitDependencies,
  wait: ParkedWait,
  verdict: SettledVerdict,
): Promise<boolean> {
  if (!(await claim(deps, wait))) return false;
  try {
    return await resumeTask(
      deps.sfn,
      wait.taskToken,
      verdict.outcome === 'completed'
        ? { output: rolloutCompleted(verdict.deploymentId) }
        : verdict.outcome === 'gate'
          ? { output: rolloutAtGate(verdict) }
          : { error: verdict.error, cause: failureCause(verdict) },
    );
  } catch (error) {
    // Not sent: park the token again so the event's redelivery (or the timeout) can resume it.
    await park(deps, wait);
    throw error;
  }
}

/** What WaitForRollout and CheckRollout put at `$.rollout` when the rollout completed. */
export function rolloutCompleted(deploymentId: string): { rolloutState: 'COMPLETED'; deploymentId: string } {
  return { rolloutState: 'COMPLETED', deploymentId };
}

/** What WaitForServiceDeployment puts at `$.rollout` when a pause hook awaits Gantry's decision. */
export function rolloutAtGate(verdict: Extract<SettledVerdict, { outcome: 'gate' }>) {
  return {
    rolloutState: 'GATE' as const,
    deploymentId: verdict.deploymentId,
    hookId: verdict.hookId,
    lifecycleStage: verdict.lifecycleStage,
  };
}

/** The JSON `Cause` the state machine's rollback reads; trimmed to fit Step Functions' limit. */
export function failureCause(verdict: Extract<SettledVerdict, { outcome: 'failed' }>): string {
  const { outcome: _, error: __, ...details } = verdict;
  const fits = (text: string) => text.length <= maxCauseLength;
  let text = JSON.stringify(details);
  if (fits(text)) return text;
  // First without the event, then with half the stopped tasks at a time, down to none.
  const listed = Array.isArray(details.stoppedTasks) ? details.stoppedTasks : undefined;
  for (let keep = listed?.length ?? 0; ; keep = Math.floor(keep / 2)) {
    text = JSON.stringify({
      ...details,
      event: undefined,
      ...(listed && { stoppedTasks: listed.slice(0, keep) }),
    });
    if (fits(text) || keep === 0) break;
  }
  return fits(text) ? text : JSON.stringify({ message: details.message.slice(0, 1000) });
}

async function park(deps: WaitDependencies, wait: ParkedWait): Promise<void> {
  const { taskToken, ...details } = wait;
  await awsCall('parking the task token', () =>
    deps.table.dynamodb.send(
      new PutItemCommand({
        TableName: deps.table.tableName,
        Item: {
          ...keyOf(waitPartition(wait.deploymentId), waitSortKey),
          taskToken: s(taskToken),
          wait: s(JSON.stringify(details)),
          [ttlAttribute]: expiresIn(deps.now(), (wait.timeoutSeconds ?? 0) + orphanGraceSeconds),
        },
      }),
    ),
  );
}

function claim(deps: WaitDependencies, wait: ParkedWait): Promise<boolean> {
  return conditionalWrite('claiming the parked wait', () =>
    deps.table.dynamodb.send(
      new DeleteItemCommand({
        TableName: deps.table.tableName,
        Key: keyOf(waitPartition(wait.deploymentId), waitSortKey),
        ConditionExpression: 'taskToken = :token',
        ExpressionAttributeValues: { ':token': s(wait.taskToken) },
      }),
    ),
  );
}
