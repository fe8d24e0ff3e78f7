import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsCall, hasErrorName } from '../errors.ts';

/**
 * The coordination table: one DynamoDB table (on-demand, TTL on `expiresAt`) holding the lock,
 * the waiting request, the parked task tokens and the release history of every app/environment.
 * Keys and item shapes are listed in docs/architecture.md ("The coordination table").
 */
export interface CoordinationTable {
  dynamodb: DynamoDBClient;
  tableName: string;
}

export const partitionKey = 'pk';
export const sortKey = 'sk';
/** TTL attribute, epoch seconds. DynamoDB deletes expired items only eventually, so nothing relies on it. */
export const ttlAttribute = 'expiresAt';

/** The partition of one app/environment: its lock, its waiter and its release history. */
export function appEnvPartition(app: string, env: string): string {
  return `app#${app}#${env}`;
}

export const lockSortKey = 'lock';
export const waiterSortKey = 'waiter';
export const releaseSortKeyPrefix = 'release#';
/** The rollout a deploy of the app/environment waits on (coordination/in-flight.ts). */
export const rolloutSortKey = 'rollout';
/**
 * The sort keys of an app/environment partition that sort after every release record's: DynamoDB
 * keeps a partition's items sorted by sort key, strings "in order of UTF-8 bytes" (SDK model,
 * @aws-sdk/client-dynamodb QueryInput `ScanIndexForward`), and `rollout` and `waiter` come after
 * `release#` (`lock` before it). A descending Query from the top of the partition therefore meets
 * them before the newest record.
 */
export const sortKeysAfterReleases = [rolloutSortKey, waiterSortKey] as const;

/** The partition of one parked wait on a target deployment (an ECS deployment id…). */
export function waitPartition(deploymentId: string): string {
  return `wait#${deploymentId}`;
}
export const waitSortKey = 'wait';

export type Item = Record<string, AttributeValue>;

export function keyOf(pk: string, sk: string): Item {
  return { [partitionKey]: { S: pk }, [sortKey]: { S: sk } };
}

export const s = (value: string): AttributeValue => ({ S: value });
export const n = (value: number): AttributeValue => ({ N: String(value) });

export function stringOf(item: Item | undefined, name: string): string | undefined {
  const value = item?.[name];
  return value && 'S' in value ? value.S : undefined;
}

export function numberOf(item: Item | undefined, name: string): number | undefined {
  const value = item?.[name];
  return value && 'N' in value ? Number(value.N) : undefined;
}

/** Epoch seconds `seconds` from `now`: the TTL of an item that stops mattering then. */
export function expiresIn(now: Date, seconds: number): AttributeValue {
  return n(Math.ceil(now.getTime() / 1000 + seconds));
}

/**
 * Runs one conditional write; false when its condition failed (someone else got there first, or
 * there was nothing to do), which for the coordination table is an answer, not an error.
 */
export async function conditionalWrite(doing: string, write: () => Promise<unknown>): Promise<boolean> {
  try {
    await awsCall(doing, write);
    return true;
  } catch (error) {
    if (hasErrorName(error, 'ConditionalCheckFailedException')) return false;
    throw error;
  }
}
