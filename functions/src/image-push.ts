import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { InputInvalid } from './errors.ts';
import { ecrRegistry } from './image-ref.ts';
import { appEnvParameters } from './parameters.ts';
import { liveReleaseOf, readRelease } from './release.ts';
import { executionName, startDeploy } from './start-deploy.ts';
import { type ConfigSource, listAppEnvConfigs } from './tracking.ts';

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
    'image-tag': z.string().optional(),
  }),
});

export interface ImagePush {
  repository: string;
  digest: string;
  tag?: string;
  registry: string;
  pushedAt: string;
}

export function parseImagePush(event: unknown): ImagePush {
  const parsed = ecrPushEventSchema.safeParse(event);
  if (!parsed.success) throw new InputInvalid('not an ECR Image Action event');
  const { detail } = parsed.data;
  if (detail['action-type'] !== 'PUSH' || detail.result !== 'SUCCESS') {
    throw new InputInvalid(`ECR ${detail['action-type']} ${detail.result} is not a successful push`);
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
  configSource: ConfigSource;
  parameterPrefix: string;
  stateMachineArn: string;
}

/** Starts one deploy per app/environment that tracks the pushed repository and tag. */
export async function routeImagePush(
  deps: PushDependencies,
  push: ImagePush,
): Promise<{ decisions: PushDecision[]; ignored?: string; invalidConfigs: string[] }> {
  const { configs, invalid } = await listAppEnvConfigs(deps.configSource, deps.parameterPrefix);
  const invalidConfigs = invalid.map(({ app, env, issues }) => `${app}/${env}: ${issues.join('; ')}`);
  // Multi-arch pushes send one event per manifest; only the tagged index is a release.
  if (!push.tag) return { decisions: [], ignored: 'untagged manifest', invalidConfigs };
  const tag = push.tag;
  const tracking = configs.filter(
    ({ config }) =>
      config.repository === push.repository &&
      config.tagPattern !== undefined &&
      new RegExp(config.tagPattern).test(tag),
  );
  if (tracking.length === 0) {
    return { decisions: [], ignored: `no app/environment tracks ${push.repository}:${tag}`, invalidConfigs };
  }
  const decisions = await Promise.all(
    tracking.map(async ({ app, env }): Promise<PushDecision> => {
      const live = liveReleaseOf(
        await readRelease(deps.ssm, appEnvParameters(deps.parameterPrefix, app, env).release),
      );
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
