import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall, hasErrorName } from './errors.ts';
import {
  type AppEnvParameters,
  createParameterIfAbsent,
  deleteParameter,
  readParameter,
  writeParameter,
} from './parameters.ts';
import { readRelease, safeJson } from './release.ts';

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
 * operation. Waiters leave their claim in `next`. A request stands down (superseded) when a newer
 * one holds the lock, waits in `next`, or is already the recorded release: so a burst of pushes
 * deploys the first and the last, never the ones between, and never an older one after a newer.
 * A lock whose holder execution has ended (crashed, aborted, timed out) is reclaimed.
 */
export async function acquireLock(
  deps: LockDependencies,
  parameters: AppEnvParameters,
  claim: LockClaim,
): Promise<LockOutcome> {
  const [holder, next, release] = await Promise.all([
    readClaim(deps.ssm, parameters.lock),
    readClaim(deps.ssm, parameters.next),
    readRelease(deps.ssm, parameters.release),
  ]);
  // A retried step may already hold the lock; it must not then stand down and strand it.
  if (holder?.executionArn === claim.executionArn) return { status: 'acquired' };
  if (release && isNewerThan(release, claim)) return { status: 'superseded', by: release.executionArn };
  // A newer request that died (aborted, timed out) supersedes nobody: its intent is gone.
  for (const other of [holder, next]) {
    if (other && isNewerThan(other, claim) && (await isRunning(deps.sfn, other.executionArn))) {
      return { status: 'superseded', by: other.executionArn };
    }
  }

  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createParameterIfAbsent(deps.ssm, parameters.lock, JSON.stringify(claim))) {
      if (next?.executionArn === claim.executionArn) await deleteParameter(deps.ssm, parameters.next);
      return { status: 'acquired' };
    }
    const current = await readClaim(deps.ssm, parameters.lock);
    if (!current) continue; // released between our create and read: try again
    if (current.executionArn === claim.executionArn) return { status: 'acquired' };
    const running = await isRunning(deps.sfn, current.executionArn);
    if (running && isNewerThan(current, claim)) return { status: 'superseded', by: current.executionArn };
    if (running) {
      if (next?.executionArn !== claim.executionArn) {
        await writeParameter(deps.ssm, parameters.next, JSON.stringify(claim), { overwrite: true });
      }
      return { status: 'waiting', holder: current.executionArn };
    }
    // The holder ended without releasing: reclaim, then compete for the create like anyone else.
    // Only if the lock still is that holder's: a holder that ended normally released it first,
    // and someone may have taken it since. Compared by holder, not version: a re-created
    // parameter starts again at version 1. (Parameter Store has no compare-and-delete; two
    // waiters reclaiming one crashed holder at the same instant remain a narrow race.)
    if ((await readClaim(deps.ssm, parameters.lock))?.executionArn === current.executionArn) {
      await deleteParameter(deps.ssm, parameters.lock);
    }
  }
  const current = await readClaim(deps.ssm, parameters.lock);
  return { status: 'waiting', holder: current?.executionArn ?? 'unknown' };
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

/** Another request than `claim`, made later. Records written before requests carried a time never are. */
function isNewerThan(
  other: { executionArn: string; requestedAt?: string | undefined },
  claim: LockClaim,
): boolean {
  if (other.executionArn === claim.executionArn || other.requestedAt === undefined) return false;
  return Date.parse(other.requestedAt) > Date.parse(claim.requestedAt);
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
