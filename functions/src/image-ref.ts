import { InputInvalid } from './errors.ts';

/** An image reference as a human or ECR gives it: a tag, a digest, or both. */
export interface ImageRef {
  /** Registry host, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`; absent for a bare name. */
  registry?: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const digestPattern = /^sha256:[a-f0-9]{64}$/;
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** A host name (labels of letters, digits and inner dashes) with an optional port. */
const registryPattern =
  /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;
const repositoryPattern = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export function isDigest(value: string): boolean {
  return digestPattern.test(value);
}

/** Parses `web:v1`, `web@sha256:…`, `web:v1@sha256:…` or the same behind an ECR registry host. */
export function parseImageRef(text: string): ImageRef {
  const invalid = (why: string) =>
    new InputInvalid(`image "${text.slice(0, 300)}" is not a valid reference: ${why}`);
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw invalid('the digest must be sha256: followed by 64 lower-case hex digits');
  }
  let registry: string | undefined;
  const firstSlash = rest.indexOf('/');
  if (firstSlash > 0 && /[.:]/.test(rest.slice(0, firstSlash))) {
    registry = rest.slice(0, firstSlash);
    rest = rest.slice(firstSlash + 1);
    if (!registryPattern.test(registry)) throw invalid('bad registry host');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw invalid('bad tag');
  }
  if (!repositoryPattern.test(rest)) throw invalid('bad repository name');
  if (tag === undefined && digest === undefined) throw invalid('give a tag or a digest');
  return {
    repository: rest,
    ...(registry !== undefined && { registry }),
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

export function ecrRegistry(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.amazonaws.com`;
}

/** What is deployed: always pinned by digest, so a moved tag never changes a running release. */
export function pinnedImage(registry: string, repository: string, digest: string): string {
  return `${registry}/${repository}@${digest}`;
}

/** Region and account of an ARN such as `arn:aws:states:eu-west-1:123456789012:execution:…`. */
export function arnRegionAccount(arn: string): { region: string; account: string } {
  const [, , , region, account] = arn.split(':');
  if (!region || !account) throw new InputInvalid(`"${arn}" is not an ARN with a region and account`);
  return { region, account };
}
