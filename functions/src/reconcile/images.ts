import { DescribeImagesCommand, type DescribeImagesCommandOutput, type ECRClient } from '@aws-sdk/client-ecr';
import { awsCall, hasErrorName } from '../errors.ts';

/** A tagged image of a repository, as ECR describes it. */
export interface RegistryImage {
  digest: string;
  tags: string[];
  /** Epoch milliseconds. */
  pushedAt: number;
}

export interface RepositoryListing {
  images: RegistryImage[];
  /** False when the page limit stopped the listing: the newest image may be on a page not read. */
  complete: boolean;
  /** Set when ECR has no such repository. */
  missing?: true;
}

/**
 * ECR's largest page: DescribeImages returns at most 1000 images a call with `maxResults`
 * (SDK model, @aws-sdk/client-ecr DescribeImagesRequest.maxResults: "between 1 and 1000").
 */
export const imagesPerPage = 1000;

/**
 * The repository's tagged images, a page of 1000 per call, reading at most `maxPages` pages. ECR
 * documents no order for DescribeImages, so finding the newest image means reading them all: a
 * repository larger than `maxPages` pages is reported incomplete, never guessed from a part.
 */
export async function listTaggedImages(
  ecr: ECRClient,
  repository: string,
  options: { maxPages: number },
): Promise<RepositoryListing> {
  const images: RegistryImage[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < options.maxPages; page++) {
    let answer: DescribeImagesCommandOutput;
    try {
      answer = await awsCall(`listing the images of ${repository}`, () =>
        ecr.send(
          new DescribeImagesCommand({
            repositoryName: repository,
            filter: { tagStatus: 'TAGGED' },
            maxResults: imagesPerPage,
            ...(nextToken !== undefined && { nextToken }),
          }),
        ),
      );
    } catch (error) {
      if (hasErrorName(error, 'RepositoryNotFoundException'))
        return { images: [], complete: true, missing: true };
      throw error;
    }
    for (const detail of answer.imageDetails ?? []) {
      if (!detail.imageDigest || !detail.imageTags?.length || !detail.imagePushedAt) continue;
      images.push({
        digest: detail.imageDigest,
        tags: detail.imageTags,
        pushedAt: detail.imagePushedAt.getTime(),
      });
    }
    nextToken = answer.nextToken;
    if (!nextToken) return { images, complete: true };
  }
  return { images, complete: false };
}
