import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { SSMClient } from '@aws-sdk/client-ssm';
import {
  appEnvPartition,
  type CoordinationTable,
  type Item,
  keyOf,
  lockSortKey,
  stringOf,
  waiterSortKey,
} from './coordination/table.ts';
import { awsCall } from './errors.ts';
import type { GantryEventType } from './notify.ts';
import { appEnvParameters } from './parameters.ts';
import { latestRelease, type ReleaseRecord, readRelease } from './release.ts';

/** One release as people name it: the tag if it had one, and the digest's first 12 hex digits. */
export interface ReleaseName {
  tag?: string;
  digest: string;
  /** `sha256:` and 12 hex digits, as `docker images` abbreviates. */
  shortDigest: string;
  image: string;
  /** What the target runs for it: a task-definition ARN on ECS. */
  revision: string;
}

/** What one app/environment runs, how it got there, and who is deploying it now. */
export interface AppEnvStatus {
  app: string;
  env: string;
  /** One sentence for people: "prod is on v1.4.1, rolled back from v1.4.2 because …". */
  summary: string;
  /** The live release (Parameter Store), or null when none is recorded or a failed rollback left it unknown. */
  live: (ReleaseName & { since: string; byExecution: string }) | null;
  /** The newest record of the release history: the last deploy or rollback that ended with a change. */
  lastAttempt: {
    outcome: 'deployed' | 'rolled back' | 'rollback failed';
    at: string;
    executionArn: string;
    release: ReleaseName;
    /** The release it rolled away from, for a rollback. */
    rolledBackFrom?: Omit<ReleaseName, 'revision'>;
    reason?: string;
    cause?: {
      error: string;
      message: string;
      stoppedTasks?: number;
      exitCodes?: number[];
      stopReasons?: string[];
    };
  } | null;
  /** The execution deploying it now, if any. */
  lock: { holder: string; image: string; requestedAt: string; acquiredAt: string } | null;
  /** The newest request waiting for the lock, if any (older ones were superseded). */
  waiting: { executionArn: string; image: string; requestedAt: string } | null;
}

export interface StatusDependencies {
  ssm: SSMClient;
  table: CoordinationTable;
  parameterPrefix: string;
}

/**
 * Reads the status of one app/environment: the live release from Parameter Store (the source of
 * truth people and the swarm agent read), the newest history record, the lock and the waiter
 * from the coordination table. Four reads, no writes.
 */
export async function readAppEnvStatus(
  deps: StatusDependencies,
  app: string,
  env: string,
): Promise<AppEnvStatus> {
  const [live, latest, lock, waiter] = await Promise.all([
    readRelease(deps.ssm, appEnvParameters(deps.parameterPrefix, app, env).release),
    latestRelease(deps.table, app, env),
    readCoordinationItem(deps.table, app, env, lockSortKey),
    readCoordinationItem(deps.table, app, env, waiterSortKey),
  ]);
  return appEnvStatus({ app, env, live, latest, lock, waiter });
}

/**
 * The `detail-type` of the event Gantry puts on every change of what is live (deployed, rolled
 * back, a rollback that failed); its detail is the app/env's {@link AppEnvStatus}, so a Slack or
 * SNS rule needs no lookup.
 */
export const statusChangedDetailType = 'Release Status Changed' satisfies GantryEventType;

/**
 * The status right after `record` was written, as `gantry status` shows it once the recording
 * execution lets go of the lock (its next step): the record is both the live release and the
 * newest history entry, and `waiter` is the waiter slot as RecordRelease read it with the newest
 * record (release.ts readPartitionHead), so announcing costs no read of its own.
 */
export function statusAfterRecord(
  where: { app: string; env: string },
  record: ReleaseRecord,
  waiter: Item | undefined,
): AppEnvStatus {
  return appEnvStatus({ ...where, live: record, latest: record, lock: undefined, waiter });
}

/** The status from what was read; pure, so the status event and the CLI build the same object. */
export function appEnvStatus(input: {
  app: string;
  env: string;
  live: ReleaseRecord | undefined;
  latest: ReleaseRecord | undefined;
  lock: Item | undefined;
  waiter: Item | undefined;
}): AppEnvStatus {
  const { app, env, live, latest } = input;
  const liveRelease =
    live && live.kind !== 'rollback-failed'
      ? { ...releaseName(live), since: live.at, byExecution: live.executionArn }
      : null;
  const lastAttempt = latest ? attemptOf(latest) : null;
  const holder = stringOf(input.lock, 'holder');
  const waiting = stringOf(input.waiter, 'executionArn');
  const status: AppEnvStatus = {
    app,
    env,
    summary: '',
    live: liveRelease,
    lastAttempt,
    lock:
      holder === undefined
        ? null
        : {
            holder,
            image: stringOf(input.lock, 'image') ?? '',
            requestedAt: stringOf(input.lock, 'requestedAtText') ?? '',
            acquiredAt: stringOf(input.lock, 'acquiredAt') ?? '',
          },
    waiting:
      waiting === undefined
        ? null
        : {
            executionArn: waiting,
            image: stringOf(input.waiter, 'image') ?? '',
            requestedAt: stringOf(input.waiter, 'requestedAtText') ?? '',
          },
  };
  return { ...status, summary: summaryOf(status, live) };
}

/** A release's name for people: tag, else the short digest. */
export function displayName(release: { tag?: string | undefined; digest: string }): string {
  return release.tag ?? shortDigest(release.digest);
}

export function shortDigest(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice(0, 19) : digest;
}

/** The name an execution ARN ends with (`…:execution:<state machine>:<name>`). */
export function executionNameOf(executionArn: string): string {
  return executionArn.slice(executionArn.lastIndexOf(':') + 1);
}

function releaseName(record: Pick<ReleaseRecord, 'tag' | 'digest' | 'image' | 'revision'>) {
  return {
    ...(record.tag !== undefined && { tag: record.tag }),
    digest: record.digest,
    shortDigest: shortDigest(record.digest),
    image: record.image,
    revision: record.revision,
  };
}

const outcomes = {
  release: 'deployed',
  rollback: 'rolled back',
  'rollback-failed': 'rollback failed',
} as const satisfies Record<ReleaseRecord['kind'], string>;

function attemptOf(record: ReleaseRecord): NonNullable<AppEnvStatus['lastAttempt']> {
  const from = record.rolledBackFrom;
  const details = record.cause?.details as
    | { stoppedTasks?: unknown; exitCodes?: unknown; stopReasons?: unknown }
    | undefined;
  return {
    outcome: outcomes[record.kind],
    at: record.at,
    executionArn: record.executionArn,
    release: releaseName(record),
    ...(from?.digest !== undefined && {
      rolledBackFrom: {
        ...(from.tag !== undefined && { tag: from.tag }),
        digest: from.digest,
        shortDigest: shortDigest(from.digest),
        image: from.image ?? '',
      },
    }),
    ...(record.reason !== undefined && { reason: record.reason }),
    ...(record.cause && {
      cause: {
        error: record.cause.error,
        message: record.cause.message,
        ...(typeof details?.stoppedTasks === 'number' && { stoppedTasks: details.stoppedTasks }),
        ...(Array.isArray(details?.exitCodes) && { exitCodes: details.exitCodes.map(Number) }),
        ...(Array.isArray(details?.stopReasons) && { stopReasons: details.stopReasons.map(String) }),
      },
    }),
  };
}

function summaryOf(status: AppEnvStatus, live: ReleaseRecord | undefined): string {
  const where = `${status.app}/${status.env}`;
  const now = [
    status.lock && `deploying ${status.lock.image} (${executionNameOf(status.lock.holder)})`,
    status.waiting && `${status.waiting.image} waiting`,
  ].filter(Boolean);
  const tail = now.length > 0 ? `; ${now.join(', ')}` : '';
  const attempt = status.lastAttempt;
  if (live?.kind === 'rollback-failed' || attempt?.outcome === 'rollback failed') {
    const cause = attempt?.cause ? ` because ${causeText(attempt.cause)}` : '';
    return `${where}: a rollback failed${cause}; what runs is unknown, look at the service${tail}`;
  }
  if (!status.live) return `${where} has no recorded release${tail}`;
  const on = `${where} is on ${displayName(status.live)}`;
  if (attempt?.outcome === 'rolled back' && attempt.executionArn === status.live.byExecution) {
    const from = attempt.rolledBackFrom ? ` from ${displayName(attempt.rolledBackFrom)}` : '';
    const why = attempt.cause
      ? ` because ${causeText(attempt.cause)}`
      : attempt.reason
        ? ` on request: ${attempt.reason}`
        : '';
    return `${on}, rolled back${from}${why}${tail}`;
  }
  return `${on} since ${status.live.since.replace(/\.\d+Z$/, 'Z')}${tail}`;
}

/** "2 tasks stopped (EssentialContainerExited: …)", else the cause's own message. */
function causeText(cause: NonNullable<NonNullable<AppEnvStatus['lastAttempt']>['cause']>): string {
  if (cause.stoppedTasks !== undefined) {
    const reasons = cause.stopReasons?.length ? ` (${cause.stopReasons.join('; ')})` : '';
    const codes = cause.exitCodes?.length
      ? `, exit code${cause.exitCodes.length === 1 ? '' : 's'} ${cause.exitCodes.join(', ')}`
      : '';
    return `${cause.stoppedTasks} task${cause.stoppedTasks === 1 ? '' : 's'} stopped${codes}${reasons}`;
  }
  return `${cause.error}: ${cause.message}`;
}

async function readCoordinationItem(
  table: CoordinationTable,
  app: string,
  env: string,
  sk: string,
): Promise<Item | undefined> {
  const { Item } = await awsCall(`reading the ${sk} of ${app}/${env}`, () =>
    table.dynamodb.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: keyOf(appEnvPartition(app, env), sk),
        ConsistentRead: true,
      }),
    ),
  );
  return Item;
}
