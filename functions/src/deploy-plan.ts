import { DescribeImagesCommand, type ECRClient } from '@aws-sdk/client-ecr';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { deployConfigFrom } from './config/load-config.ts';
import { type DeployConfig, describeIssues, nameSchema } from './config/schema.ts';
import type { CoordinationTable } from './coordination/table.ts';
import { awsCall, hasErrorName, ImageNotFound, InputInvalid } from './errors.ts';
import { arnRegionAccount, ecrRegistry, type ImageRef, parseImageRef, pinnedImage } from './image-ref.ts';
import { withLiveRelease } from './live-release.ts';
import { appEnvParameters } from './parameters.ts';
import { type DeployedImage, deployedImageOf, releaseFrom } from './release.ts';
import { readParameters } from './repository-index/tracking.ts';
import { findRecordedRelease, requireImageInEcr } from './rollback-to.ts';
import { type TargetClients, targetFor } from './targets/target.ts';
import * as z from './zod.ts';

/** The execution input: what a person types in the console, or what the entry Lambdas send. */
export const deployRequestSchema = z
  .strictObject({
    app: nameSchema,
    env: nameSchema,
    /** `repo:tag`, `repo@sha256:…`, optionally behind the ECR registry host. */
    image: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
    /** Go back to the release recorded before the live one… */
    rollback: z.optional(z.literal(true)),
    /** Put the recorded live release back (the reconciler, when the target drifted from it). */
    restore: z.optional(z.literal(true)),
    /**
     * …or, with `rollback`, to this release of the history: a tag, a digest (or its first 12+ hex
     * digits), or the execution that recorded it (functions/src/rollback-to.ts).
     */
    to: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
    reason: z.optional(z.string().check(z.maxLength(500))),
    source: z._default(z.enum(['manual', 'ecr-push', 'alarm', 'rollback-requested', 'reconciler']), 'manual'),
    /** When the push or request happened; orders competing requests for one app/environment. */
    requestedAt: z.optional(z.iso.datetime({ offset: true })),
  })
  .check(
    z.refine(
      (request) =>
        [request.image, request.rollback, request.restore].filter((given) => given !== undefined).length ===
        1,
      { message: 'give exactly one of "image", "rollback": true or "restore": true' },
    ),
    z.refine((request) => request.to === undefined || request.rollback === true, {
      message: '"to" goes with "rollback": true',
    }),
  );

export type DeployRequest = z.infer<typeof deployRequestSchema>;

/** Everything later states need, resolved once so a retry or a rollback never re-reads config. */
export interface DeployPlan {
  app: string;
  env: string;
  executionArn: string;
  requestedAt: string;
  source: DeployRequest['source'];
  /** `restore`: the recorded live release put back as it is (its revision reused). */
  mode: 'deploy' | 'rollback' | 'restore';
  reason?: string;
  config: DeployConfig;
  /** The image to run; `revision` is set when an existing revision is reused (rollback). */
  desired: Omit<DeployedImage, 'revision'> & { revision?: string };
  /** The release recorded as live before this execution: the target of an automatic rollback. */
  live: DeployedImage | null;
  /** The release before the live one, kept so the next record can name it. */
  livePrevious: DeployedImage | null;
  /** A rollback to this recorded release (`to`), rather than to the one before the live one. */
  rollbackTo?: DeployedImage;
}

export interface PlanDependencies {
  ssm: SSMClient;
  ecr: ECRClient;
  targets: TargetClients;
  /** The release history, for a rollback `to` a recorded release. */
  table: CoordinationTable;
  parameterPrefix: string;
}

export function parseDeployRequest(input: unknown): DeployRequest {
  const parsed = deployRequestSchema.safeParse(input);
  if (!parsed.success) {
    throw new InputInvalid(`execution input is invalid: ${describeIssues(parsed.error).join('; ')}`);
  }
  return parsed.data;
}

/**
 * Validates the request and config, checks the target may be deployed, and pins the image by
 * digest. Reads only; changes nothing.
 */
export async function resolveDeployPlan(
  deps: PlanDependencies,
  input: { request: unknown; executionArn: string; startedAt: string },
): Promise<DeployPlan> {
  const request = parseDeployRequest(input.request);
  const parameters = appEnvParameters(deps.parameterPrefix, request.app, request.env);
  // The config and the live release in one GetParameters call: a name that does not exist comes
  // back among its InvalidParameters, not as an error (SDK model, @aws-sdk/client-ssm
  // GetParametersResult), so a first deploy, with no release yet, costs no failed call either.
  const stored = await readParameters(deps.ssm, [parameters.config, parameters.release]);
  const config = deployConfigFrom(parameters.config, stored.get(parameters.config));
  const target = targetFor(config, deps.targets);
  await target.requireDeployable();
  const release = releaseFrom(stored.get(parameters.release));
  const base = {
    app: request.app,
    env: request.env,
    executionArn: input.executionArn,
    requestedAt: request.requestedAt ?? input.startedAt,
    source: request.source,
    ...(request.reason !== undefined && { reason: request.reason }),
    config,
  };

  if (request.restore) {
    return withLiveRelease(
      { ...base, mode: 'restore', desired: { image: '', digest: '' }, live: null, livePrevious: null },
      release,
    );
  }
  if (request.rollback) {
    const rollbackTo =
      request.to === undefined
        ? undefined
        : deployedImageOf(await findRecordedRelease(deps.table, request, request.to));
    const plan = withLiveRelease(
      {
        ...base,
        mode: 'rollback',
        desired: { image: '', digest: '' },
        live: null,
        livePrevious: null,
        ...(rollbackTo && { rollbackTo }),
      },
      release,
    );
    // A release that can no longer run is refused before anything changes, with the reason.
    await requireImageInEcr(deps.ecr, plan.desired);
    if (plan.desired.revision)
      await target.requireRunnable({ ...plan.desired, revision: plan.desired.revision });
    return plan;
  }

  const ref = parseImageRef(request.image ?? '');
  if (ref.repository !== config.repository) {
    throw new InputInvalid(
      `image repository "${ref.repository}" is not the one ${request.app}/${request.env} tracks ("${config.repository}")`,
    );
  }
  const { region, account } = arnRegionAccount(input.executionArn);
  const registry = ecrRegistry(account, region);
  // The digest is looked up in this account's ECR; running it from any other host would deploy
  // an image nobody checked.
  if (ref.registry !== undefined && ref.registry !== registry) {
    throw new InputInvalid(
      `image registry "${ref.registry}" is not this account's ECR registry (${registry})`,
    );
  }
  const found = await findImage(deps.ecr, ref);
  return withLiveRelease(
    {
      ...base,
      mode: 'deploy',
      desired: {
        image: pinnedImage(registry, ref.repository, found.digest),
        digest: found.digest,
        ...(found.tag !== undefined && { tag: found.tag }),
      },
      live: null,
      livePrevious: null,
    },
    release,
  );
}

async function findImage(ecr: ECRClient, ref: ImageRef): Promise<{ digest: string; tag?: string }> {
  const imageId = ref.digest ? { imageDigest: ref.digest } : { imageTag: ref.tag ?? '' };
  try {
    const { imageDetails } = await awsCall(`looking up ${ref.repository} in ECR`, () =>
      ecr.send(new DescribeImagesCommand({ repositoryName: ref.repository, imageIds: [imageId] })),
    );
    const detail = imageDetails?.[0];
    if (!detail?.imageDigest) throw new ImageNotFound(`ECR returned no digest for ${describe(ref)}`);
    const tag = ref.tag ?? detail.imageTags?.[0];
    return { digest: detail.imageDigest, ...(tag !== undefined && { tag }) };
  } catch (error) {
    if (hasErrorName(error, 'ImageNotFoundException') || hasErrorName(error, 'RepositoryNotFoundException')) {
      throw new ImageNotFound(`${describe(ref)} is not in ECR (${(error as Error).name})`, { cause: error });
    }
    throw error;
  }
}

function describe(ref: ImageRef): string {
  return `${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
