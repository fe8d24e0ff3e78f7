import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import {
  appEnvPartition,
  type CoordinationTable,
  conditionalWrite,
  expiresIn,
  type Item,
  keyOf,
  lockSortKey,
  n,
  numberOf,
  s,
  stringOf,
  ttlAttribute,
  waiterSortKey,
} from './coordination/table.ts';
import { resumeTask } from './coordination/task-tokens.ts';
import { awsCall, hasErrorName } from './errors.ts';
import { type ReleaseRecord, readPartitionHead } from './release.ts';

/** Who holds, or waits for, one app/environment. */
export interface LockClaim {
  executionArn: string;
  requestedAt: string;
  image: string;
}

export type LockOutcome =
  | { status: 'acquired' }
  | { status: 'waiting'; holder: string; retryAfterSeconds?: number }
  | { status: 'superseded'; by: string };

/**
 * What acquireLock found: once the lock is ours, also the newest release record, read after it was
 * taken (a holder may have recorded one and let go just before).
 */
export type AcquireOutcome =
  | Exclude<LockOutcome, { status: 'acquired' }>
  | { status: 'acquired'; latest: ReleaseRecord | undefined };

/** What a parked waiter is resumed with: go and try again, or stand down. */
export type WakeUp = { status: 'woken' } | { status: 'superseded'; by: string };

export interface LockDependencies {
  table: CoordinationTable;
  sfn: SFNClient;
  now: () => Date;
}

export interface AppEnv {
  app: string;
  env: string;
}

/**
 * How long a parked waiter waits before trying again by itself, should the holder's release and
 * its end-of-execution event both be lost: longer than a holder's rollout and rollback together
 * (each up to `health.timeoutSeconds`), so a live holder is never polled.
 */
export function waiterFallbackSeconds(health: { timeoutSeconds: number }): number {
  return 2 * health.timeoutSeconds + 600;
}
/** A waiter item outlives its fallback by a day at most, should its execution die. */
const waiterGraceSeconds = 24 * 3600;

/**
 * One deployment at a time per app/environment, and the newest request wins.
 *
 * The lock is an item written with a condition (absent, or held by an execution that has ended),
 * so two requests can never both take it. A request stands down (superseded) when a newer one
 * holds the lock, waits for it, or is already the recorded release: so a burst of pushes deploys
 * the first and the last, never the ones between, and never an older one after a newer. A request
 * that cannot take the lock returns `waiting`; the state machine then parks it ({@link parkWaiter}).
 *
 * The write comes first: on a free lock, the common case, a deploy costs that write and one read
 * of the waiter and the newest record (two calls; reading first cost five). The read comes once the
 * lock is ours, so the record it returns is the one live for this deploy (`latest`, which refreshes
 * the plan). A request that finds itself superseded then lets go and wakes the waiter, as
 * ReleaseLock and WakeWaiter would: it may have kept a newer request from taking the lock meanwhile.
 */
export async function acquireLock(
  deps: LockDependencies,
  where: AppEnv,
  claim: LockClaim,
): Promise<AcquireOutcome> {
  const contended = await takeLock(deps, where, claim);
  if (contended) return contended;
  const head = await readPartitionHead(deps.table, where.app, where.env);
  const waiter = claimOf(head.waiter, 'executionArn');
  const by = await newerRequest(deps, head.latest, waiter, claim);
  // Our own item in the slot: parked earlier, its wait ended by the fallback timeout.
  if (waiter?.executionArn === claim.executionArn)
    await withdrawWaiter(deps.table, where, claim.executionArn);
  if (by) {
    if (await releaseLock(deps, where, claim.executionArn)) await wakeWaiter(deps, where);
    return { status: 'superseded', by };
  }
  return { status: 'acquired', latest: head.latest };
}

/**
 * Writes the lock: absent, or (after a look) held by an execution that has ended. Undefined once
 * the lock is ours (also when a retried step finds it took it already); otherwise why not.
 */
async function takeLock(
  deps: LockDependencies,
  where: AppEnv,
  claim: LockClaim,
): Promise<Exclude<LockOutcome, { status: 'acquired' }> | undefined> {
  let dead: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await writeLock(deps, where, claim, dead)) return undefined;
    const current = await readClaim(deps.table, where, lockSortKey);
    // A retried step may already hold the lock; it must not then wait for itself.
    if (current?.executionArn === claim.executionArn) return undefined;
    if (current && (await isRunning(deps.sfn, current.executionArn))) {
      // A newer request that took the lock, even between our read and our write, supersedes us.
      if (isNewerThan(current, claim)) return { status: 'superseded', by: current.executionArn };
      const head = await readPartitionHead(deps.table, where.app, where.env);
      const by = await newerRequest(deps, head.latest, claimOf(head.waiter, 'executionArn'), claim);
      return by ? { status: 'superseded', by } : { status: 'waiting', holder: current.executionArn };
    }
    // A holder that ended without releasing (crashed, aborted, timed out) is taken over, in the
    // same conditional write: only if the lock still names that holder.
    dead = current?.executionArn;
  }
  return { status: 'waiting', holder: dead ?? 'unknown' };
}

/**
 * The execution of a request newer than `claim` that should deploy instead: the newest record's,
 * or the waiter's while it runs (a newer request that died, aborted or timed out, supersedes
 * nobody: its intent is gone).
 */
async function newerRequest(
  deps: LockDependencies,
  latest: ReleaseRecord | undefined,
  waiter: Claim | undefined,
  claim: LockClaim,
): Promise<string | undefined> {
  if (latest && isNewerThan(latest, claim)) return latest.executionArn;
  if (waiter && isNewerThan(waiter, claim) && (await isRunning(deps.sfn, waiter.executionArn))) {
    return waiter.executionArn;
  }
  return undefined;
}

/**
 * Parks a waiting request's task token in the waiter slot. The slot holds the newest waiter only:
 * the write succeeds if the slot is empty, older, or already ours, and the waiter it replaces is
 * resumed as superseded; a newer waiter makes this one stand down at once. Then it looks at the
 * lock again: a holder that let go between AcquireLock and now woke nobody, so we wake ourselves.
 */
export async function parkWaiter(
  deps: LockDependencies,
  where: AppEnv,
  claim: LockClaim & { taskToken: string; timeoutSeconds: number },
): Promise<'parked' | 'superseded' | 'woken'> {
  let replaced: Item | undefined;
  try {
    const { Attributes } = await awsCall('parking the waiter', () =>
      deps.table.dynamodb.send(
        new PutItemCommand({
          TableName: deps.table.tableName,
          Item: {
            ...keyOf(appEnvPartition(where.app, where.env), waiterSortKey),
            executionArn: s(claim.executionArn),
            ...claimAttributes(claim),
            taskToken: s(claim.taskToken),
            [ttlAttribute]: expiresIn(deps.now(), claim.timeoutSeconds + waiterGraceSeconds),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR requestedAt < :requestedAt OR executionArn = :me',
          ExpressionAttributeValues: {
            ':requestedAt': n(Date.parse(claim.requestedAt)),
            ':me': s(claim.executionArn),
          },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    replaced = Attributes;
  } catch (error) {
    if (!hasErrorName(error, 'ConditionalCheckFailedException')) throw error;
    const newer = await readClaim(deps.table, where, waiterSortKey);
    await resumeTask(deps.sfn, claim.taskToken, {
      output: { status: 'superseded', by: newer?.executionArn ?? 'a newer request' } satisfies WakeUp,
    });
    return 'superseded';
  }
  // A waiter item always carries both; a retried park replaces its own item and resumes nobody.
  const replacedToken = stringOf(replaced, 'taskToken');
  if (replacedToken && stringOf(replaced, 'executionArn') !== claim.executionArn) {
    await resumeTask(deps.sfn, replacedToken, {
      output: { status: 'superseded', by: claim.executionArn } satisfies WakeUp,
    });
  }
  if (!(await readClaim(deps.table, where, lockSortKey))) {
    return (await wakeWaiter(deps, where, claim.taskToken)) ? 'woken' : 'parked';
  }
  return 'parked';
}

/**
 * Resumes the parked waiter, if any, so it tries for the lock. Taking it out of its slot with a
 * delete that returns the old item is the claim: of two wakers (the holder's release and the
 * end-of-execution rule, say) only one gets the token. `onlyToken` wakes only that token.
 */
export async function wakeWaiter(
  deps: LockDependencies,
  where: AppEnv,
  onlyToken?: string,
): Promise<boolean> {
  let taken: Item | undefined;
  try {
    const { Attributes } = await awsCall('claiming the waiter', () =>
      deps.table.dynamodb.send(
        new DeleteItemCommand({
          TableName: deps.table.tableName,
          Key: keyOf(appEnvPartition(where.app, where.env), waiterSortKey),
          ReturnValues: 'ALL_OLD',
          ...(onlyToken !== undefined && {
            ConditionExpression: 'taskToken = :token',
            ExpressionAttributeValues: { ':token': s(onlyToken) },
          }),
        }),
      ),
    );
    taken = Attributes;
  } catch (error) {
    if (hasErrorName(error, 'ConditionalCheckFailedException')) return false;
    throw error;
  }
  const token = stringOf(taken, 'taskToken');
  if (token === undefined) return false;
  return resumeTask(deps.sfn, token, { output: { status: 'woken' } satisfies WakeUp });
}

/**
 * Frees the lock if `executionArn` holds it; someone else's lock, or none, is left alone. The
 * state machine's ReleaseLock makes the same conditional delete itself (a DynamoDB service
 * integration); this is the end-of-execution rule's copy, for a holder that died holding it.
 */
export function releaseLock(deps: LockDependencies, where: AppEnv, executionArn: string): Promise<boolean> {
  return conditionalWrite('releasing the lock', () =>
    deps.table.dynamodb.send(
      new DeleteItemCommand({
        TableName: deps.table.tableName,
        Key: keyOf(appEnvPartition(where.app, where.env), lockSortKey),
        ConditionExpression: 'holder = :me',
        ExpressionAttributeValues: { ':me': s(executionArn) },
      }),
    ),
  );
}

/** Removes a waiter item of this execution (it took the lock, or it died waiting). */
export function withdrawWaiter(
  table: CoordinationTable,
  where: AppEnv,
  executionArn: string,
): Promise<boolean> {
  return conditionalWrite('withdrawing the waiter', () =>
    table.dynamodb.send(
      new DeleteItemCommand({
        TableName: table.tableName,
        Key: keyOf(appEnvPartition(where.app, where.env), waiterSortKey),
        ConditionExpression: 'executionArn = :me',
        ExpressionAttributeValues: { ':me': s(executionArn) },
      }),
    ),
  );
}

function writeLock(
  deps: LockDependencies,
  where: AppEnv,
  claim: LockClaim,
  deadHolder: string | undefined,
): Promise<boolean> {
  return conditionalWrite('taking the lock', () =>
    deps.table.dynamodb.send(
      new PutItemCommand({
        TableName: deps.table.tableName,
        Item: {
          ...keyOf(appEnvPartition(where.app, where.env), lockSortKey),
          holder: s(claim.executionArn),
          ...claimAttributes(claim),
          acquiredAt: s(deps.now().toISOString()),
        },
        ...(deadHolder === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'holder = :dead', ExpressionAttributeValues: { ':dead': s(deadHolder) } }),
      }),
    ),
  );
}

/**
 * What the lock and the waiter item say about a request. `requestedAt` is a number (epoch ms) so
 * conditions compare it numerically; the text keeps the request's own spelling for people.
 */
function claimAttributes(claim: LockClaim): Item {
  return {
    requestedAt: n(Date.parse(claim.requestedAt)),
    requestedAtText: s(claim.requestedAt),
    image: s(claim.image),
  };
}

/**
 * A request made later than `claim`. A record written before requests carried a time never is:
 * its time reads as NaN, and NaN compares false. The same execution is never newer than itself,
 * since its request time does not change.
 */
function isNewerThan(other: { requestedAt?: string | number | undefined }, claim: LockClaim): boolean {
  return new Date(other.requestedAt ?? Number.NaN).getTime() > Date.parse(claim.requestedAt);
}

/**
 * The execution holding the app/environment's lock, if one holds it and is still running: while it
 * does, the target may run something the release record does not name yet.
 */
export async function runningLockHolder(
  deps: Pick<LockDependencies, 'table' | 'sfn'>,
  where: AppEnv,
): Promise<string | undefined> {
  const holder = await readClaim(deps.table, where, lockSortKey);
  return holder && (await isRunning(deps.sfn, holder.executionArn)) ? holder.executionArn : undefined;
}

/** Who holds the lock, or waits in the waiter slot, and when their request was made (epoch ms). */
interface Claim {
  executionArn: string;
  requestedAt: number | undefined;
}

async function readClaim(table: CoordinationTable, where: AppEnv, sk: string): Promise<Claim | undefined> {
  const { Item } = await awsCall('reading the lock', () =>
    table.dynamodb.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: keyOf(appEnvPartition(where.app, where.env), sk),
        ConsistentRead: true,
      }),
    ),
  );
  return claimOf(Item, sk === lockSortKey ? 'holder' : 'executionArn');
}

/** The claim a lock item (`holder`) or a waiter item (`executionArn`) makes. */
function claimOf(item: Item | undefined, named: 'holder' | 'executionArn'): Claim | undefined {
  const executionArn = stringOf(item, named);
  return executionArn === undefined
    ? undefined
    : { executionArn, requestedAt: numberOf(item, 'requestedAt') };
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
