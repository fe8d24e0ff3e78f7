import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { awsCall, hasErrorName } from './errors.ts';
import {
  type AppEnvParameters,
  createParameterIfAbsent,
  deleteParameter,
  readParameter,
  writeParameter,
} from './parameters.ts';
import { safeJson } from './release.ts';

/** Who holds, or waits for, one app/environment. */
const claimSchema = z.object({ executionArn: z.string(), requestedAt: z.string(), image: z.string() });
export type LockClaim = z.infer<typeof claimSchema>;

export type LockOutcome =
  | { status: 'acquired' }
  | { status: 'waiting'; holder: string }
  | { status: 'superseded'; by: string };

export interface LockDependencies {
  ssm: SSMClient;
  sfn: SFNClient;
}

/**
 * One deployment at a time per app/environment, and the newest request wins.
 *
 * The lock is a parameter created with `Overwrite: false`, Parameter Store's only atomic
 * operation. Waiters leave their claim in `next`; a waiter that finds a newer claim there stands
 * down (superseded), so a burst of pushes deploys the first and the last, never the ones between.
 * A lock whose holder execution has ended (crashed, aborted, timed out) is reclaimed.
 */
export async function acquireLock(
  deps: LockDependencies,
  parameters: AppEnvParameters,
  claim: LockClaim,
): Promise<LockOutcome> {
  // A retried step may already hold the lock; it must not then stand down and strand it.
  if ((await readClaim(deps.ssm, parameters.lock))?.executionArn === claim.executionArn) {
    return { status: 'acquired' };
  }
  const next = await readClaim(deps.ssm, parameters.next);
  if (next && next.executionArn !== claim.executionArn && isNewer(next, claim)) {
    return { status: 'superseded', by: next.executionArn };
  }

  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createParameterIfAbsent(deps.ssm, parameters.lock, JSON.stringify(claim))) {
      if (next?.executionArn === claim.executionArn) await deleteParameter(deps.ssm, parameters.next);
      return { status: 'acquired' };
    }
    const holder = await readClaim(deps.ssm, parameters.lock);
    if (!holder) continue; // released between our create and read: try again
    if (holder.executionArn === claim.executionArn) return { status: 'acquired' };
    if (await isRunning(deps.sfn, holder.executionArn)) {
      if (!next || next.executionArn !== claim.executionArn) {
        await writeParameter(deps.ssm, parameters.next, JSON.stringify(claim), { overwrite: true });
      }
      return { status: 'waiting', holder: holder.executionArn };
    }
    // The holder ended without releasing: reclaim, then compete for the create like anyone else.
    await deleteParameter(deps.ssm, parameters.lock);
  }
  const holder = await readClaim(deps.ssm, parameters.lock);
  return { status: 'waiting', holder: holder?.executionArn ?? 'unknown' };
}

/** Releases the lock if this execution holds it; releasing twice, or someone else's lock, is a no-op. */
export async function releaseLock(
  ssm: SSMClient,
  parameters: AppEnvParameters,
  executionArn: string,
): Promise<{ released: boolean }> {
  const holder = await readClaim(ssm, parameters.lock);
  if (holder?.executionArn !== executionArn) return { released: false };
  return { released: await deleteParameter(ssm, parameters.lock) };
}

function isNewer(a: LockClaim, b: LockClaim): boolean {
  return Date.parse(a.requestedAt) > Date.parse(b.requestedAt);
}

async function readClaim(ssm: SSMClient, name: string): Promise<LockClaim | undefined> {
  const stored = await readParameter(ssm, name);
  const parsed = stored ? claimSchema.safeParse(safeJson(stored.value)) : undefined;
  return parsed?.success ? parsed.data : undefined;
}

async function isRunning(sfn: SFNClient, executionArn: string): Promise<boolean> {
  try {
    const { status } = await awsCall('checking the lock holder', () =>
      sfn.send(new DescribeExecutionCommand({ executionArn })),
    );
    return status === 'RUNNING';
  } catch (error) {
    if (hasErrorName(error, 'ExecutionDoesNotExist')) return false;
    throw error;
  }
}
