import { QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeImagesCommand,
  ECRClient,
  ImageNotFoundException,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageNotFound, NoPreviousRelease, TransientAwsError } from '../../functions/src/errors.ts';
import { appendRelease, type ReleaseRecord } from '../../functions/src/release.ts';
import {
  findRecordedRelease,
  historyPageSize,
  matchesRelease,
  requireImageInEcr,
} from '../../functions/src/rollback-to.ts';
import { live, older } from '../support/deploy-states.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/* `gantry rollback --to`: which recorded release a person means, and whether it can still run. */

const where = { app: 'web', env: 'prod' };
const executionOf = (name: string) =>
  `arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:${name}`;
const recordOf = (
  release: typeof live,
  n: number,
  kind: ReleaseRecord['kind'] = 'release',
): ReleaseRecord => ({
  kind,
  ...release,
  at: new Date(Date.UTC(2025, 5, 1) + n * 60_000).toISOString(),
  executionArn: executionOf(`push-web-prod-${n}`),
  previous: null,
});

/** A throttled call, as the SDK throws it. */
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

let table: ReturnType<typeof fakeCoordinationTable>;
const ecr = mockClient(ECRClient);

beforeEach(() => {
  table = fakeCoordinationTable();
});

afterEach(() => {
  table.mock.reset();
  ecr.reset();
});

describe('matchesRelease', () => {
  const record = recordOf(live, 1);

  it.each([
    ['its tag', 'v1.4.1'],
    ['its digest', live.digest],
    ['the first 12 hex digits of its digest', live.digest.slice(7, 19)],
    ['sha256: and the first 12 hex digits', live.digest.slice(0, 19)],
    ['the execution that recorded it, by name', 'push-web-prod-1'],
    ['the execution that recorded it, by ARN', executionOf('push-web-prod-1')],
  ])('matches %s', (_what, selector) => {
    expect(matchesRelease(record, selector)).toBe(true);
  });

  it.each([
    ['another tag', 'v1.4'],
    ['fewer than 12 hex digits', live.digest.slice(7, 18)],
    ['another execution', 'push-web-prod-11'],
    ["the first 12 hex digits of another release's digest", older.digest.slice(7, 19)],
  ])('does not match %s', (_what, selector) => {
    expect(matchesRelease(record, selector)).toBe(false);
  });
});

describe('findRecordedRelease', () => {
  it('finds a release older than one page of history, the newest match first', async () => {
    // Prepare: v1.4.0 at 1 and 2, then more than a page of v1.4.1.
    await appendRelease(table.table, where, recordOf(older, 1));
    await appendRelease(table.table, where, recordOf(older, 2));
    for (let n = 3; n < historyPageSize + 10; n++) await appendRelease(table.table, where, recordOf(live, n));

    const found = await findRecordedRelease(table.table, where, 'v1.4.0');

    expect(found.executionArn).toBe(executionOf('push-web-prod-2'));
  });

  it('skips failed rollbacks: they recorded no state that worked', async () => {
    await appendRelease(table.table, where, recordOf(older, 1, 'rollback-failed'));

    await expect(findRecordedRelease(table.table, where, 'v1.4.0')).rejects.toThrow(NoPreviousRelease);
  });

  it('names the selector when nothing matches', async () => {
    await appendRelease(table.table, where, recordOf(live, 1));

    await expect(findRecordedRelease(table.table, where, 'v9.9.9')).rejects.toThrow(
      'no release of web/prod in its history matches "v9.9.9"',
    );
  });
});

describe('findRecordedRelease on DynamoDB', () => {
  it('reads the history strongly consistent, so a release recorded a moment ago is found', async () => {
    // Prepare
    await appendRelease(table.table, where, recordOf(live, 1));

    // Act
    await findRecordedRelease(table.table, where, 'v1.4.1');

    // Assess
    expect(table.mock.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({ ConsistentRead: true });
  });

  it('says what it was doing when DynamoDB throttles the read', async () => {
    // Prepare
    table.mock.on(QueryCommand).rejects(throttled());

    // Act
    const finding = findRecordedRelease(table.table, where, 'v1.4.1');

    // Assess
    await expect(finding).rejects.toThrow(TransientAwsError);
    await expect(finding).rejects.toThrow(/^reading the release history: ThrottlingException/);
  });
});

describe('requireImageInEcr', () => {
  it('asks ECR for the digest', async () => {
    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: live.digest }] });

    await requireImageInEcr(new ECRClient({}), live);

    expect(ecr).toHaveReceivedCommandWith(DescribeImagesCommand, {
      repositoryName: 'web',
      imageIds: [{ imageDigest: live.digest }],
    });
  });

  it('refuses an image deleted from ECR, saying so', async () => {
    ecr.on(DescribeImagesCommand).rejects(new ImageNotFoundException({ message: 'gone', $metadata: {} }));

    await expect(requireImageInEcr(new ECRClient({}), live)).rejects.toThrow(ImageNotFound);
    await expect(requireImageInEcr(new ECRClient({}), live)).rejects.toThrow(/is no longer in ECR/);
  });

  it('refuses an image whose repository was deleted, naming the image and what ECR said', async () => {
    // Prepare
    const deleted = new RepositoryNotFoundException({ message: 'no repository web', $metadata: {} });
    ecr.on(DescribeImagesCommand).rejects(deleted);

    // Act
    const requiring = requireImageInEcr(new ECRClient({}), live);

    // Assess
    await expect(requiring).rejects.toThrow(ImageNotFound);
    await expect(requiring).rejects.toThrow(
      `web@${live.digest} is no longer in ECR (RepositoryNotFoundException): a release of it cannot run again`,
    );
    await expect(requiring).rejects.toMatchObject({ cause: deleted });
  });

  it('refuses a release that names no digest without asking ECR: it cannot be pinned', async () => {
    // Act
    const requiring = requireImageInEcr(new ECRClient({}), { image: `${live.image}`, digest: 'latest' });

    // Assess
    await expect(requiring).rejects.toThrow(ImageNotFound);
    await expect(requiring).rejects.toThrow('the release names no digest (latest): it cannot be pinned');
    expect(ecr.commandCalls(DescribeImagesCommand)).toHaveLength(0);
  });

  it('passes on an error that does not say the image is gone', async () => {
    // Prepare
    ecr
      .on(DescribeImagesCommand)
      .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));

    // Act
    const requiring = requireImageInEcr(new ECRClient({}), live);

    // Assess
    await expect(requiring).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('says which image it was looking up when ECR throttles', async () => {
    // Prepare
    ecr.on(DescribeImagesCommand).rejects(throttled());

    // Act
    const requiring = requireImageInEcr(new ECRClient({}), live);

    // Assess
    await expect(requiring).rejects.toThrow(TransientAwsError);
    await expect(requiring).rejects.toThrow(`looking up web@${live.digest} in ECR: ThrottlingException`);
  });
});
