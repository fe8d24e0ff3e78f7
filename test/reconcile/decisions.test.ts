import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, ECRClient, RepositoryNotFoundException } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { appEnvPartition, keyOf } from '../../functions/src/coordination/table.ts';
import { CallCapReached } from '../../functions/src/errors.ts';
import { budgeted, CallBudget } from '../../functions/src/reconcile/budget.ts';
import { listTaggedImages, type RegistryImage } from '../../functions/src/reconcile/images.ts';
import { findLostPush, historySince, rejectionOf } from '../../functions/src/reconcile/lost-push.ts';
import type { ReleaseRecord } from '../../functions/src/release.ts';
import { appendRelease } from '../../functions/src/release.ts';
import { story, webConfig } from '../support/aws-fixtures.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const at = (iso: string) => Date.parse(iso);
const digest = (n: number) => `sha256:${String(n).padStart(64, '0')}`;

const liveRelease: ReleaseRecord = {
  kind: 'release',
  image: `${story.registry}/web@${digest(1)}`,
  digest: digest(1),
  tag: 'v1.0.0',
  revision: story.previousTaskDefinitionArn,
  at: '2026-12-03T10:00:00.000Z',
  executionArn: story.executionArn,
  previous: null,
};

const image = (n: number, tags: string[], pushedAt: string): RegistryImage => ({
  digest: digest(n),
  tags,
  pushedAt: at(pushedAt),
});

describe('the lost-push decision', () => {
  const appEnv = { config: webConfig, release: liveRelease, configModifiedAt: at('2026-12-01T00:00:00Z') };

  it('picks the newest image with a matching tag, pushed after the live release was recorded', () => {
    // Prepare
    const images = [
      image(1, ['v1.0.0'], '2026-12-03T09:00:00Z'),
      image(2, ['v1.1.0'], '2026-12-03T10:05:00Z'),
      image(3, ['v1.2.0', 'latest'], '2026-12-03T10:07:00Z'),
      // Newer, but no tag matches the config's tagPattern.
      image(4, ['latest-dev'], '2026-12-03T10:09:00Z'),
    ];

    // Act
    const candidate = findLostPush(appEnv, images);

    // Assess
    expect(candidate).toEqual({ found: true, image: images[2], tag: 'v1.2.0' });
  });

  it('finds nothing when the newest matching image was pushed before the live release was asked for', () => {
    // Prepare: v1.1.0 was pushed, then a person deployed v1.0.0 by hand.
    const images = [
      image(1, ['v1.0.0'], '2026-12-03T09:00:00Z'),
      image(2, ['v1.1.0'], '2026-12-03T09:30:00Z'),
    ];

    // Act, Assess
    expect(findLostPush(appEnv, images)).toEqual({
      found: false,
      why: 'nothing matching was pushed after the live release was asked for',
    });
  });

  it('owes a push made while the live release was rolling out: counted from when it was asked for', () => {
    // Prepare: the live release was pushed at 09:55 and recorded at 10:00; v1.1.0 came at 09:58.
    const release = { ...liveRelease, requestedAt: '2026-12-03T09:55:00.000Z' };
    const images = [
      image(1, ['v1.0.0'], '2026-12-03T09:55:00Z'),
      image(2, ['v1.1.0'], '2026-12-03T09:58:00Z'),
    ];

    // Act, Assess
    expect(findLostPush({ ...appEnv, release }, images)).toEqual({
      found: true,
      image: images[1],
      tag: 'v1.1.0',
    });
  });

  it('never counts an image pushed with or before the live one as newer, whatever the record says', () => {
    // Prepare: the release was asked for at 10:00:00 (an event time, whole seconds); v1.0.9 was
    // pushed 300 ms later but before the live image.
    const release = { ...liveRelease, requestedAt: '2026-12-03T10:00:00Z' };
    const images = [
      image(9, ['v1.0.9'], '2026-12-03T10:00:00.300Z'),
      image(1, ['v1.0.0'], '2026-12-03T10:00:00.400Z'),
    ];

    // Act, Assess
    expect(findLostPush({ ...appEnv, release }, images)).toEqual({
      found: false,
      why: 'the newest matching image is live',
    });
  });

  it('finds nothing when the newest matching image is the live one', () => {
    // Prepare: re-pushed under a new tag after the release.
    const images = [image(1, ['v1.0.0', 'v1.0.1'], '2026-12-03T10:30:00Z')];

    // Act, Assess
    expect(findLostPush(appEnv, images)).toEqual({ found: false, why: 'the newest matching image is live' });
  });

  it('counts from when the config was written when nothing was ever released', () => {
    // Prepare
    const { release: _, ...neverReleased } = appEnv;
    const images = [
      image(2, ['v1.1.0'], '2026-11-30T00:00:00Z'),
      image(3, ['v1.2.0'], '2026-12-02T00:00:00Z'),
    ];

    // Act, Assess
    expect(findLostPush(neverReleased, images.slice(0, 1))).toEqual({
      found: false,
      why: 'nothing matching was pushed after the config was written',
    });
    expect(findLostPush(neverReleased, images)).toMatchObject({ found: true, tag: 'v1.2.0' });
  });

  it('never deploys an app/environment without a tagPattern', () => {
    // Prepare
    const { tagPattern: _, ...manualOnly } = webConfig;

    // Act, Assess
    expect(
      findLostPush({ ...appEnv, config: manualOnly }, [image(2, ['v1.1.0'], '2026-12-03T11:00:00Z')]),
    ).toEqual({ found: false, why: 'no tagPattern: manual starts only' });
  });

  it('finds nothing when no tag matches the tagPattern', () => {
    expect(findLostPush(appEnv, [image(2, ['latest', 'ci-42'], '2026-12-03T11:00:00Z')])).toEqual({
      found: false,
      why: 'no image has a tag matching tagPattern',
    });
  });

  it('does not count an image pushed the very millisecond the config was written', () => {
    // Prepare
    const { release: _, ...neverReleased } = appEnv;
    const images = [image(2, ['v1.1.0'], '2026-12-01T00:00:00Z')];

    // Act, Assess
    expect(findLostPush(neverReleased, images)).toMatchObject({ found: false });
  });

  it('does not count an image pushed the same millisecond as the live one, whatever its digest', () => {
    // Prepare: asked for at 10:00:00 (whole seconds); v1.0.9 and the live v1.0.0 both at 10:00:00.400.
    const release = { ...liveRelease, requestedAt: '2026-12-03T10:00:00Z' };
    const images = [
      image(9, ['v1.0.9'], '2026-12-03T10:00:00.400Z'),
      image(1, ['v1.0.0'], '2026-12-03T10:00:00.400Z'),
    ];

    // Act, Assess
    expect(findLostPush({ ...appEnv, release }, images)).toEqual({
      found: false,
      why: 'nothing matching was pushed after the live release was asked for',
    });
  });

  it('never lets an older image win a tie-break it is not in', () => {
    // Prepare: the older image has the greater digest.
    const images = [
      image(3, ['v1.3.0'], '2026-12-03T11:00:00Z'),
      image(9, ['v1.0.9'], '2026-12-03T10:30:00Z'),
    ];

    // Act, Assess
    expect(findLostPush(appEnv, images)).toMatchObject({ found: true, tag: 'v1.3.0' });
  });

  it('picks the same image every run when two were pushed at the same time', () => {
    // Prepare
    const images = [
      image(3, ['v1.3.0'], '2026-12-03T11:00:00Z'),
      image(2, ['v1.2.0'], '2026-12-03T11:00:00Z'),
    ];

    // Act, Assess
    expect(findLostPush(appEnv, images)).toMatchObject({ found: true, tag: 'v1.3.0' });
    expect(findLostPush(appEnv, [...images].reverse())).toMatchObject({ found: true, tag: 'v1.3.0' });
  });
});

describe('rejected digests', () => {
  const rolledBack = (kind: ReleaseRecord['kind'], from: string): ReleaseRecord => ({
    ...liveRelease,
    kind,
    at: '2026-12-03T11:00:00.000Z',
    rolledBackFrom: { image: `${story.registry}/web@${from}`, digest: from },
  });

  it('rules out a digest Gantry or a person rolled back from, or failed to roll back from', () => {
    expect(rejectionOf([rolledBack('rollback', digest(2))], digest(2))).toMatchObject({ kind: 'rollback' });
    expect(rejectionOf([rolledBack('rollback-failed', digest(2))], digest(2))).toMatchObject({
      kind: 'rollback-failed',
    });
  });

  it('does not rule out a digest that was only released, or another digest rolled back', () => {
    expect(rejectionOf([liveRelease, { ...liveRelease, digest: digest(2) }], digest(2))).toBeUndefined();
    expect(rejectionOf([{ ...liveRelease, digest: digest(2) }], digest(2))).toBeUndefined();
    expect(rejectionOf([rolledBack('rollback', digest(3))], digest(2))).toBeUndefined();
  });
});

const ecrMock = mockClient(ECRClient);
afterEach(() => ecrMock.reset());

describe('the call budget', () => {
  it('counts every call made through a budgeted client and refuses the one past the cap', async () => {
    // Prepare
    ecrMock.on(DescribeImagesCommand).resolves({ imageDetails: [] });
    const budget = new CallBudget(2);
    const ecr = budgeted(new ECRClient({}), budget);

    // Act
    await ecr.send(new DescribeImagesCommand({ repositoryName: 'web' }));
    await ecr.send(new DescribeImagesCommand({ repositoryName: 'web' }));
    const third = ecr.send(new DescribeImagesCommand({ repositoryName: 'web' }));

    // Assess
    await expect(third).rejects.toThrow(CallCapReached);
    expect(budget.spent).toBe(2);
    expect(ecrMock.commandCalls(DescribeImagesCommand)).toHaveLength(2);
  });

  it('refuses a cap that is not a whole number of calls', () => {
    expect(() => new CallBudget(0)).toThrow(RangeError);
    expect(() => new CallBudget(1.5)).toThrow(RangeError);
  });
});

describe('listing a repository', () => {
  const page = (from: number, count: number, nextToken?: string) => ({
    imageDetails: Array.from({ length: count }, (_, index) => ({
      imageDigest: digest(from + index),
      imageTags: [`v1.0.${from + index}`],
      imagePushedAt: new Date(at('2026-12-01T00:00:00Z') + (from + index) * 1000),
    })),
    ...(nextToken && { nextToken }),
  });

  it('reads tagged images a thousand per call, following nextToken to the end', async () => {
    // Prepare
    ecrMock
      .on(DescribeImagesCommand)
      .resolvesOnce(page(0, 1000, 'page-2'))
      .resolvesOnce(page(1000, 1000, 'page-3'))
      .resolvesOnce(page(2000, 500));

    // Act
    const listing = await listTaggedImages(new ECRClient({}), 'web', { maxPages: 5 });

    // Assess
    expect(listing.complete).toBe(true);
    expect(listing.images).toHaveLength(2500);
    expect(ecrMock).toHaveReceivedCommandTimes(DescribeImagesCommand, 3);
    expect(ecrMock).toHaveReceivedNthCommandWith(DescribeImagesCommand, 2, {
      repositoryName: 'web',
      filter: { tagStatus: 'TAGGED' },
      maxResults: 1000,
      nextToken: 'page-2',
    });
  });

  it('stops at the page limit and says the listing is incomplete', async () => {
    // Prepare
    ecrMock.on(DescribeImagesCommand).resolves(page(0, 1000, 'more'));

    // Act
    const listing = await listTaggedImages(new ECRClient({}), 'web', { maxPages: 2 });

    // Assess
    expect(listing.complete).toBe(false);
    expect(ecrMock).toHaveReceivedCommandTimes(DescribeImagesCommand, 2);
  });

  it('reports a repository ECR does not have', async () => {
    // Prepare
    ecrMock
      .on(DescribeImagesCommand)
      .rejects(new RepositoryNotFoundException({ message: 'no such repository', $metadata: {} }));

    // Act, Assess
    expect(await listTaggedImages(new ECRClient({}), 'gone', { maxPages: 2 })).toEqual({
      images: [],
      complete: true,
      missing: true,
    });
  });
});

describe('the history since a push', () => {
  it('reads, page after page, every record made at or after the push and nothing else', async () => {
    // Prepare: 30 records after the push (more than a page), 2 before it, and the lock item.
    const coordination = fakeCoordinationTable();
    const where = { app: 'web', env: 'prod' };
    const at = (minute: number) =>
      new Date(Date.parse('2026-12-03T10:00:00Z') + minute * 60_000).toISOString();
    for (const minute of [-2, -1, ...Array.from({ length: 30 }, (_, index) => index)]) {
      await appendRelease(coordination.table, where, {
        ...liveRelease,
        at: at(minute),
        executionArn: `${story.executionArn}-${minute}`,
      });
    }
    coordination.put({ ...keyOf(appEnvPartition('web', 'prod'), 'lock'), holder: { S: story.executionArn } });
    // A hand-edited, unreadable record in the range is skipped, not returned.
    coordination.put({
      ...keyOf(appEnvPartition('web', 'prod'), `release#${at(40)}#by-hand#release`),
      record: { S: 'not json' },
    });

    // Act
    const history = await historySince(coordination.table, where, Date.parse('2026-12-03T10:00:00Z'));

    // Assess
    expect(history.map((record) => record.at)).toEqual(Array.from({ length: 30 }, (_, index) => at(index)));
    expect(coordination.mock.commandCalls(QueryCommand)).toHaveLength(2);
    coordination.mock.reset();
  });
});
