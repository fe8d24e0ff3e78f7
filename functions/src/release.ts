import type { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { labelParameterVersion, readParameter, writeParameter } from './parameters.ts';

const deployedImageSchema = z.object({
  /** `registry/repository@sha256:…` */
  image: z.string(),
  digest: z.string(),
  tag: z.string().optional(),
  taskDefinitionArn: z.string(),
});

export const releaseRecordSchema = deployedImageSchema.extend({
  /** `release`: a deploy went live; `rollback`: Gantry put this one back; `rollback-failed`: it tried and could not. */
  kind: z.enum(['release', 'rollback', 'rollback-failed']),
  at: z.string(),
  executionArn: z.string(),
  /** When the request behind this record was made: an older request never replaces it. */
  requestedAt: z.string().optional(),
  /** What was live before this record; a requested rollback goes back to it. */
  previous: deployedImageSchema.nullable(),
  /** Why a rollback happened, with the forensics gathered at the time. */
  cause: z.object({ error: z.string(), message: z.string(), details: z.unknown().optional() }).optional(),
  /** The release that was rolled away from. */
  rolledBackFrom: deployedImageSchema.partial({ taskDefinitionArn: true }).optional(),
  reason: z.string().optional(),
});

export type DeployedImage = z.infer<typeof deployedImageSchema>;
export type ReleaseRecord = z.infer<typeof releaseRecordSchema>;

/** The label that marks the parameter version of the release currently believed live and healthy. */
export const liveLabel = 'live';

export function deployedImageOf(record: DeployedImage): DeployedImage {
  return {
    image: record.image,
    digest: record.digest,
    ...(record.tag !== undefined && { tag: record.tag }),
    taskDefinitionArn: record.taskDefinitionArn,
  };
}

/** What a record says is running, or null when a failed rollback left that unknown. */
export function liveReleaseOf(record: ReleaseRecord | undefined): DeployedImage | null {
  return record && record.kind !== 'rollback-failed' ? deployedImageOf(record) : null;
}

export async function readRelease(ssm: SSMClient, name: string): Promise<ReleaseRecord | undefined> {
  const stored = await readParameter(ssm, name);
  if (!stored) return undefined;
  const parsed = releaseRecordSchema.safeParse(safeJson(stored.value));
  // A hand-edited, unreadable record must not block deploys; treating it as absent only
  // loses the option of a requested rollback, which then fails with NoPreviousRelease.
  return parsed.success ? parsed.data : undefined;
}

/**
 * Writes the record as a new version of the release parameter (the version history is the
 * release history). Retrying after a partial failure does not write the same record twice.
 */
export async function writeRelease(ssm: SSMClient, name: string, record: ReleaseRecord): Promise<number> {
  const current = await readParameter(ssm, name);
  const currentRecord = current ? releaseRecordSchema.safeParse(safeJson(current.value)) : undefined;
  if (
    current &&
    currentRecord?.success &&
    currentRecord.data.executionArn === record.executionArn &&
    currentRecord.data.kind === record.kind
  ) {
    // Written by an earlier try that may have failed before labelling it: label again (idempotent).
    if (record.kind !== 'rollback-failed') await labelParameterVersion(ssm, name, current.version, liveLabel);
    return current.version;
  }
  const version = await writeParameter(ssm, name, fitToParameter(record), { overwrite: true });
  if (record.kind !== 'rollback-failed') await labelParameterVersion(ssm, name, version, liveLabel);
  return version;
}

/** A Standard parameter holds 4 KB; a record never fails to be written for its forensics' sake. */
const maxParameterBytes = 4096;

function fitToParameter(record: ReleaseRecord): string {
  const text = JSON.stringify(record);
  if (Buffer.byteLength(text) <= maxParameterBytes || !record.cause) return text;
  return JSON.stringify({
    ...record,
    cause: { error: record.cause.error, message: record.cause.message.slice(0, 500) },
  });
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
