import { createHash, randomBytes } from 'node:crypto';
import type { SimClock } from './clock.ts';
import {
  AwsError,
  compact,
  epochSeconds,
  type Params,
  type ServiceDefinition,
  UnsupportedParameter,
} from './protocol.ts';

/** ECR authorization tokens are valid for 12 hours (API_GetAuthorizationToken; SDK `AuthorizationData.expiresAt`). */
export const authorizationTokenLifetimeMs = 12 * 3_600_000;

interface Image {
  readonly digest: string;
  readonly tags: string[];
  readonly pushedAt: number;
}

/** What {@link EcrState.putImage} seeded. */
export interface PushedImage {
  readonly repository: string;
  readonly digest: string;
  /** `<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>` */
  readonly imageUri: string;
}

/** ECR repositories and images, seeded by hand: the emulator does not accept pushes. */
export class EcrState {
  readonly #repositories = new Map<string, Image[]>();
  readonly #clock: SimClock;
  readonly #region: string;
  readonly #account: string;
  /** What GetAuthorizationToken hands out: ECR's user is always `AWS`, the password a fresh token. */
  #credentials = { username: 'AWS', password: randomBytes(24).toString('base64url') };

  constructor(clock: SimClock, region: string, account: string) {
    this.#clock = clock;
    this.#region = region;
    this.#account = account;
  }

  /** The registry host images of this emulator live under. */
  get registry(): string {
    return `${this.#account}.dkr.ecr.${this.#region}.amazonaws.com`;
  }

  /**
   * Seeds an image. Without `digest` one is derived from repository and tag, so a re-seed is stable.
   * Like a mutable ECR repository, a tag already on another image moves to this one.
   */
  putImage(input: { repository: string; tag: string; digest?: string }): PushedImage {
    const digest =
      input.digest ??
      `sha256:${createHash('sha256').update(`${input.repository}:${input.tag}`).digest('hex')}`;
    if (!/^sha256:[0-9a-f]{64}$/.test(digest))
      throw new Error(`putImage: '${digest}' is not a sha256 digest`);
    const images = this.#repositories.get(input.repository) ?? [];
    for (const image of images) {
      const at = image.tags.indexOf(input.tag);
      if (at >= 0) image.tags.splice(at, 1);
    }
    const existing = images.find((image) => image.digest === digest);
    if (existing === undefined) {
      images.push({ digest, tags: [input.tag], pushedAt: this.#clock.now() });
    } else {
      existing.tags.push(input.tag);
    }
    this.#repositories.set(input.repository, images);
    return {
      repository: input.repository,
      digest,
      imageUri: `${this.registry}/${input.repository}:${input.tag}`,
    };
  }

  /**
   * The `user:password` GetAuthorizationToken returns: a test gives the credentials of a real
   * registry (the docker lab's htpasswd user), so a client that logs in with them really pulls.
   */
  setAuthorization(credentials: { username: string; password: string }): void {
    this.#credentials = { ...credentials };
  }

  /**
   * Removes an image, as BatchDeleteImage or a lifecycle policy would: DescribeImages then answers
   * ImageNotFoundException for it. False when it was not there.
   */
  removeImage(repository: string, digest: string): boolean {
    const images = this.#repositories.get(repository) ?? [];
    const at = images.findIndex((image) => image.digest === digest);
    if (at < 0) return false;
    images.splice(at, 1);
    return true;
  }

  /** The digest a tag points at, if seeded. */
  resolveTag(repository: string, tag: string): string | undefined {
    return this.#repositories.get(repository)?.find((image) => image.tags.includes(tag))?.digest;
  }

  service(): ServiceDefinition {
    return {
      name: 'ecr',
      targetPrefix: 'AmazonEC2ContainerRegistry_V20150921',
      validationError: 'InvalidParameterException',
      operations: {
        // API_GetAuthorizationToken (Amazon ECR API Reference) and the SDK model's
        // `AuthorizationData`: a base64 `user:password` for `docker login`, valid for 12 hours,
        // with `proxyEndpoint` `https://<account>.dkr.ecr.<region>.amazonaws.com`. `registryIds`
        // is deprecated and changes nothing (the token covers every registry the caller may use).
        GetAuthorizationToken: {
          keys: ['registryIds'],
          handle: (p: Params) => {
            p.stringArray('registryIds');
            const { username, password } = this.#credentials;
            return {
              authorizationData: [
                {
                  authorizationToken: Buffer.from(`${username}:${password}`).toString('base64'),
                  expiresAt: epochSeconds(this.#clock.now() + authorizationTokenLifetimeMs),
                  proxyEndpoint: `https://${this.registry}`,
                },
              ],
            };
          },
        },
        // Listing (no imageIds) is paginated: `maxResults` 1-1000, else pages of 100, with a
        // `nextToken`; neither may be combined with imageIds; `filter.tagStatus` TAGGED, UNTAGGED
        // or ANY (SDK model, @aws-sdk/client-ecr DescribeImagesRequest and DescribeImagesFilter).
        DescribeImages: {
          keys: ['repositoryName', 'registryId', 'imageIds', 'maxResults', 'nextToken', 'filter'],
          handle: (p: Params) => {
            const repository = p.requiredString('repositoryName');
            const registryId = p.string('registryId') ?? this.#account;
            const images = this.#repositories.get(repository);
            if (images === undefined || registryId !== this.#account) {
              throw new AwsError(
                'RepositoryNotFoundException',
                `The repository with name '${repository}' does not exist in the registry with id '${registryId}'`,
              );
            }
            const ids = p.objectArray('imageIds', ['imageTag', 'imageDigest']);
            if (ids !== undefined && (p.has('maxResults') || p.has('nextToken'))) {
              throw p.invalid('maxResults and nextToken cannot be used with imageIds');
            }
            const page = ids === undefined ? listPage(p, images) : undefined;
            const found =
              page !== undefined
                ? page.items
                : (ids ?? []).map((id) => {
                    const image = images.find(
                      (i) =>
                        (id.imageDigest === undefined || i.digest === id.imageDigest) &&
                        (id.imageTag === undefined || i.tags.includes(String(id.imageTag))),
                    );
                    if (image === undefined || (id.imageTag === undefined && id.imageDigest === undefined)) {
                      throw new AwsError(
                        'ImageNotFoundException',
                        `The image with imageId {imageDigest:'${String(id.imageDigest ?? 'null')}', imageTag:'${String(
                          id.imageTag ?? 'null',
                        )}'} does not exist within the repository with name '${repository}' in the registry with id '${registryId}'`,
                      );
                    }
                    return image;
                  });
            return {
              imageDetails: found.map((image) =>
                compact({
                  registryId,
                  repositoryName: repository,
                  imageDigest: image.digest,
                  imageTags: image.tags.length > 0 ? [...image.tags] : undefined,
                  imageSizeInBytes: 50_000_000,
                  imagePushedAt: epochSeconds(image.pushedAt),
                  imageManifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
                  artifactMediaType: 'application/vnd.docker.container.image.v1+json',
                }),
              ),
              ...(page?.nextToken !== undefined && { nextToken: page.nextToken }),
            };
          },
        },
      },
    };
  }
}

/** One page of a repository's images, filtered by `filter.tagStatus`, in push order. */
function listPage(p: Params, images: readonly Image[]): { items: Image[]; nextToken?: string } {
  const filter = p.has('filter') ? (p.raw.filter as Record<string, unknown>) : {};
  const unknownKeys = Object.keys(filter).filter((key) => key !== 'tagStatus');
  if (unknownKeys.length > 0) {
    throw new UnsupportedParameter(`DescribeImages: filter ${unknownKeys.join(', ')} is not emulated`);
  }
  const tagStatus = filter.tagStatus ?? 'ANY';
  if (tagStatus !== 'TAGGED' && tagStatus !== 'UNTAGGED' && tagStatus !== 'ANY') {
    throw p.invalid(`filter.tagStatus must be TAGGED, UNTAGGED or ANY`);
  }
  const matching = images.filter(
    (image) => tagStatus === 'ANY' || (tagStatus === 'TAGGED') === image.tags.length > 0,
  );
  const size = p.number('maxResults') ?? 100;
  if (!Number.isInteger(size) || size < 1 || size > 1000) throw p.invalid('maxResults must be 1 to 1000');
  const token = p.string('nextToken');
  const start =
    token === undefined
      ? 0
      : Number(
          Buffer.from(token, 'base64url')
            .toString('utf8')
            .replace(/^offset:/, ''),
        );
  if (!Number.isInteger(start) || start < 0) throw p.invalid('nextToken is not valid');
  const items = matching.slice(start, start + size);
  const end = start + items.length;
  return end < matching.length
    ? { items, nextToken: Buffer.from(`offset:${end}`).toString('base64url') }
    : { items };
}
