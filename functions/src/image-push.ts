import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CoordinationTable } from './coordination/table.ts';
import { ecrRegistry } from './image-ref.ts';
import { liveReleaseOf } from './release.ts';
import { appEnvsTracking } from './repository-index/tracking.ts';
import { executionName, startDeploy } from './start-deploy.ts';
import { type ConfigSource, type Ignored, ignore } from './tracking.ts';
import * as z from './zod.ts';

const ecrPushEventSchema = z.object({
  'detail-type': z.literal('ECR Image Action'),
  source: z.literal('aws.ecr'),
  account: z.string(),
  region: z.string(),
  time: z.string(),
  detail: z.looseObject({
    'action-type': z.string(),
    result: z.string(),
    'repository-name': z.string(),
    'image-digest': z.string(),
    'image-tag': z.optional(z.string()),
  }),
});

export interface ImagePush {
  repository: string;
  digest: string;
  tag?: string;
  registry: string;
  pushedAt: string;
}

/**
 * ECR pins images by a sha256 digest: `sha256:` and 64 lower-case hex digits (OCI image spec,
 * descriptor.md "Digests": the sha256 encoded portion MUST match /[a-f0-9]{64}/). Anything else
 * cannot have come from ECR and would only fail later, after an execution started.
 */
const digestPattern = /^sha256:[a-f0-9]{64}$/;

/** The push an `aws.ecr` event announces, or why this event is not one Gantry deploys. */
export function parseImagePush(event: unknown): ImagePush | Ignored {
  const parsed = ecrPushEventSchema.safeParse(event);
  if (!parsed.success) return ignore('not an ECR Image Action event with a repository and a digest');
  const { detail } = parsed.data;
  if (detail['action-type'] !== 'PUSH' || detail.result !== 'SUCCESS') {
    return ignore(`ECR ${detail['action-type']} ${detail.result} is not a successful push`);
  }
  if (!digestPattern.test(detail['image-digest'])) {
    return ignore(
      `digest ${JSON.stringify(detail['image-digest'].slice(0, 80))} is not sha256: and 64 hex digits`,
    );
  }
  return {
    repository: detail['repository-name'],
    digest: detail['image-digest'],
    ...(detail['image-tag'] && { tag: detail['image-tag'] }),
    registry: ecrRegistry(parsed.data.account, parsed.data.region),
    pushedAt: parsed.data.time,
  };
}

export type PushDecision =
  | { app: string; env: string; action: 'started'; executionArn: string }
  | { app: string; env: string; action: 'skipped'; why: string };

export interface PushDependencies {
  ssm: SSMClient;
  sfn: SFNClient;
  /** The coordination table, where the repository index lives. */
  table: CoordinationTable;
  /** Every config: read only for a repository the index has never seen. */
  configSource: ConfigSource;
  parameterPrefix: string;
  stateMachineArn: string;
}

/**
 * Starts one deploy per app/environment that tracks the pushed repository and tag. What it reads
 * does not grow with the fleet: the repository's index entry, then the configs and live releases of
 * the app/environments it names (repository-index/tracking.ts).
 */
export async function routeImagePush(
  deps: PushDependencies,
  push: ImagePush,
): Promise<{ decisions: PushDecision[]; ignored?: string; invalidConfigs: string[] }> {
  // Multi-arch pushes send one event per manifest; only the tagged index is a release, so the
  // others are answered before anything is read.
  if (!push.tag) return { decisions: [], ignored: 'untagged manifest', invalidConfigs: [] };
  const tag = push.tag;
  const { tracking: candidates, invalid } = await appEnvsTracking(deps, push.repository);
  const invalidConfigs = invalid.map(({ app, env, issues }) => `${app}/${env}: ${issues.join('; ')}`);
  const tracking = candidates.filter(
    ({ config }) => config.tagPattern !== undefined && new RegExp(config.tagPattern).test(tag),
  );
  if (tracking.length === 0) {
    return { decisions: [], ignored: `no app/environment tracks ${push.repository}:${tag}`, invalidConfigs };
  }
  const decisions = await Promise.all(
    tracking.map(async ({ app, env, release }): Promise<PushDecision> => {
      const live = liveReleaseOf(release);
      if (live?.digest === push.digest) {
        return { app, env, action: 'skipped', why: `${push.digest} is already live` };
      }
      const outcome = await startDeploy(
        deps.sfn,
        deps.stateMachineArn,
        executionName('push', app, env, push.digest),
        {
          app,
          env,
          image: `${push.registry}/${push.repository}:${tag}@${push.digest}`,
          source: 'ecr-push',
          requestedAt: push.pushedAt,
        },
      );
      return outcome.started
        ? { app, env, action: 'started', executionArn: outcome.executionArn }
        : { app, env, action: 'skipped', why: `a deploy of ${push.digest} was already started` };
    }),
  );
  return { decisions, invalidConfigs };
}
