import type { ReleaseRecord } from '../release.ts';

/** What the target runs now, as its "read what is live" reports it. */
export interface RunningRelease {
  /** The target's neutral revision (an ECS task definition ARN). */
  revision: string;
  /** The image the tracked container runs, when the target reports it. */
  image?: string;
}

/** The recorded side of a drift: the live release as Gantry wrote it. */
export interface RecordedRelease {
  revision: string;
  image: string;
  digest: string;
  tag?: string;
  at: string;
  executionArn: string;
}

export interface Drift {
  recorded: RecordedRelease;
  running: RunningRelease;
  /** What differs: `revision`, `image`. */
  differences: ('revision' | 'image')[];
}

/**
 * How what runs differs from the recorded live release, or undefined when it does not. Only a
 * record of what Gantry put live compares: after a failed rollback (`rollback-failed`) Gantry
 * itself does not know what should run.
 */
export function driftOf(
  record: ReleaseRecord,
  revisionOfRecord: string,
  running: RunningRelease,
): Drift | undefined {
  if (record.kind === 'rollback-failed') return undefined;
  const differences: Drift['differences'] = [];
  if (running.revision !== revisionOfRecord) differences.push('revision');
  // Images are pinned by digest (`repo@sha256:…`): the digest is what compares, not the spelling.
  if (running.image !== undefined && digestOf(running.image) !== record.digest) differences.push('image');
  if (differences.length === 0) return undefined;
  return {
    recorded: {
      revision: revisionOfRecord,
      image: record.image,
      digest: record.digest,
      ...(record.tag !== undefined && { tag: record.tag }),
      at: record.at,
      executionArn: record.executionArn,
    },
    running,
    differences,
  };
}

function digestOf(image: string): string | undefined {
  return /@(sha256:[a-f0-9]{64})$/.exec(image)?.[1];
}
