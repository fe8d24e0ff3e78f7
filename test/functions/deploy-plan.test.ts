import { DescribeImagesCommand, ECRClient, ImageNotFoundException } from '@aws-sdk/client-ecr';
import {
  AccessDeniedException,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
} from '@aws-sdk/client-ecs';
import { GetParametersCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PlanDependencies, resolveDeployPlan } from '../../functions/src/deploy-plan.ts';
import { appendRelease, type ReleaseRecord } from '../../functions/src/release.ts';
import {
  describeServicesResponse,
  ecsTargetClients,
  loadEvent,
  serviceOf,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

// Another region and account than the events', so the registry provably comes from the ARN.
const executionArn = 'arn:aws:states:us-east-2:210987654321:execution:gantry-dev-deploy:manual-web-prod-1';
const registry = '210987654321.dkr.ecr.us-east-2.amazonaws.com';
const startedAt = '2025-06-03T10:40:00.000Z';
const configName = '/gantry/web/prod/config';
const releaseName = '/gantry/web/prod/release';

const manualStart = loadEvent('manual-start.json');
const manualStartDigest = loadEvent('manual-start-digest.json');
const manualRollback = loadEvent('manual-rollback.json');

const previousRelease = {
  image: `${registry}/web@${story.previousDigest}`,
  digest: story.previousDigest,
  tag: 'v1.4.1',
  revision: story.previousTaskDefinitionArn,
};
const liveRelease: ReleaseRecord = {
  kind: 'release',
  image: `${registry}/web@${story.digest}`,
  digest: story.digest,
  tag: 'v1.4.2',
  revision: story.taskDefinitionArn,
  at: '2025-06-03T10:19:30.000Z',
  executionArn: story.executionArn,
  previous: previousRelease,
};

const ecrMock = mockClient(ECRClient);
const ecsMock = mockClient(ECSClient);
const managed = [{ key: 'gantry:managed', value: 'true' }];
let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: PlanDependencies;

function imageInEcr(tags: string[]) {
  ecrMock.on(DescribeImagesCommand).resolves({
    $metadata: { httpStatusCode: 200 },
    imageDetails: [
      {
        registryId: '210987654321',
        repositoryName: 'web',
        imageDigest: story.digest,
        imageTags: tags,
        imageSizeInBytes: 48_213_771,
        imagePushedAt: new Date('2025-06-03T10:15:01Z'),
        imageManifestMediaType: 'application/vnd.oci.image.index.v1+json',
        lastRecordedPullTime: new Date('2025-06-03T10:15:30Z'),
      },
    ],
  });
}

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
  ssm.put(configName, webConfig);
  ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf({ tags: managed })));
  deps = {
    ssm: ssm.client,
    ecr: new ECRClient({ region: 'us-east-2' }),
    targets: ecsTargetClients(new ECSClient({ region: 'us-east-2' })),
    table: table.table,
    parameterPrefix: '/gantry',
  };
});

afterEach(() => {
  ssm.mock.reset();
  table.mock.reset();
  ecrMock.reset();
  ecsMock.reset();
});

describe('resolveDeployPlan', () => {
  describe('a manual start by tag', () => {
    it('resolves the tag to its digest and pins the image in the execution’s account and region', async () => {
      // Prepare
      imageInEcr(['v1.4.2', 'latest']);

      // Act
      const plan = await resolveDeployPlan(deps, { request: manualStart, executionArn, startedAt });

      // Assess
      expect(ecrMock).toHaveReceivedCommandExactlyOnceWith(DescribeImagesCommand, {
        repositoryName: 'web',
        imageIds: [{ imageTag: 'v1.4.2' }],
      });
      expect(plan).toEqual({
        app: 'web',
        env: 'prod',
        executionArn,
        requestedAt: startedAt,
        source: 'manual',
        mode: 'deploy',
        config: webConfig,
        desired: { image: `${registry}/web@${story.digest}`, digest: story.digest, tag: 'v1.4.2' },
        live: null,
        livePrevious: null,
      });
    });

    it('carries the live release and the one before it', async () => {
      imageInEcr(['v1.4.2']);
      ssm.put(releaseName, liveRelease);

      const plan = await resolveDeployPlan(deps, { request: manualStart, executionArn, startedAt });

      expect(plan.live).toEqual({
        image: liveRelease.image,
        digest: liveRelease.digest,
        tag: 'v1.4.2',
        revision: story.taskDefinitionArn,
      });
      expect(plan.livePrevious).toEqual(previousRelease);
    });

    it.each([
      ['a first deploy, with no live release yet', false],
      ['a deploy over a live release', true],
    ])('reads the config and the live release in one GetParameters call: %s', async (_what, released) => {
      // Prepare
      imageInEcr(['v1.4.2']);
      if (released) ssm.put(releaseName, liveRelease);

      // Act
      const plan = await resolveDeployPlan(deps, { request: manualStart, executionArn, startedAt });

      // Assess
      expect(ssm.mock.calls().map(({ args: [command] }) => command.constructor.name)).toEqual([
        'GetParametersCommand',
      ]);
      expect(ssm.mock).toHaveReceivedCommandWith(GetParametersCommand, { Names: [configName, releaseName] });
      expect(plan.live?.digest).toBe(released ? liveRelease.digest : undefined);
    });

    it('throws ImageNotFound when ECR has no such tag', async () => {
      ecrMock.on(DescribeImagesCommand).rejects(
        new ImageNotFoundException({
          message:
            "The image with imageId {imageDigest:'null', imageTag:'v1.4.2'} does not exist within the repository with name 'web' in the registry with id '210987654321'",
          $metadata: { httpStatusCode: 400 },
        }),
      );

      await expect(
        resolveDeployPlan(deps, { request: manualStart, executionArn, startedAt }),
      ).rejects.toMatchObject({
        name: 'ImageNotFound',
        message: 'web:v1.4.2 is not in ECR (ImageNotFoundException)',
      });
    });
  });

  describe('a manual start by digest', () => {
    it('looks the digest up and takes its tag from ECR', async () => {
      imageInEcr(['v1.4.2']);

      const plan = await resolveDeployPlan(deps, { request: manualStartDigest, executionArn, startedAt });

      expect(ecrMock).toHaveReceivedCommandWith(DescribeImagesCommand, {
        repositoryName: 'web',
        imageIds: [{ imageDigest: story.digest }],
      });
      expect(plan.desired).toEqual({
        image: `${registry}/web@${story.digest}`,
        digest: story.digest,
        tag: 'v1.4.2',
      });
    });

    it("accepts the image behind this account's ECR registry", async () => {
      imageInEcr([]);
      const request = { ...manualStartDigest, image: `${registry}/web@${story.digest}` };

      const plan = await resolveDeployPlan(deps, { request, executionArn, startedAt });

      expect(plan.desired).toEqual({ image: `${registry}/web@${story.digest}`, digest: story.digest });
    });

    it('refuses an image behind any other registry, whose digest nobody checked', async () => {
      imageInEcr([]);
      const request = { ...manualStartDigest, image: `evil.example.com/web@${story.digest}` };

      await expect(resolveDeployPlan(deps, { request, executionArn, startedAt })).rejects.toMatchObject({
        name: 'InputInvalid',
        message: expect.stringContaining('evil.example.com'),
      });
      expect(ecrMock).not.toHaveReceivedCommand(DescribeImagesCommand);
    });
  });

  describe('a push-started request', () => {
    it('keeps its source and requestedAt', async () => {
      imageInEcr(['v1.4.2']);
      const request = {
        app: 'web',
        env: 'prod',
        image: `${registry}/web:v1.4.2@${story.digest}`,
        source: 'ecr-push',
        requestedAt: '2025-06-03T10:15:01Z',
      };

      await expect(resolveDeployPlan(deps, { request, executionArn, startedAt })).resolves.toMatchObject({
        source: 'ecr-push',
        requestedAt: '2025-06-03T10:15:01Z',
        desired: { tag: 'v1.4.2', digest: story.digest },
      });
    });
  });

  describe('invalid input', () => {
    it('rejects an image of another repository than the config’s with InputInvalid', async () => {
      await expect(
        resolveDeployPlan(deps, {
          request: { ...manualStart, image: 'api:v1.4.2' },
          executionArn,
          startedAt,
        }),
      ).rejects.toMatchObject({
        name: 'InputInvalid',
        message: 'image repository "api" is not the one web/prod tracks ("web")',
      });
      expect(ecrMock).not.toHaveReceivedAnyCommand();
    });

    it.each([
      ['an unknown key', { ...manualStart, imgae: 'web:v1' }, /unknown key/i],
      [
        'both image and rollback',
        { ...manualStart, rollback: true },
        /exactly one of "image", "rollback": true or "restore": true/,
      ],
      [
        'neither image nor rollback',
        { app: 'web', env: 'prod' },
        /exactly one of "image", "rollback": true or "restore": true/,
      ],
      ['"to" without rollback', { ...manualStart, to: 'v1.4.1' }, /"to" goes with "rollback": true/],
      ['an app that is not a path segment', { ...manualStart, app: '../web' }, /app: /],
      ['rollback: false', { app: 'web', env: 'prod', rollback: false }, /rollback: /],
      ['a bad requestedAt', { ...manualStart, requestedAt: 'yesterday' }, /requestedAt: /],
    ])('rejects %s with InputInvalid', async (_, request, why) => {
      await expect(resolveDeployPlan(deps, { request, executionArn, startedAt })).rejects.toMatchObject({
        name: 'InputInvalid',
        message: expect.stringMatching(why),
      });
      expect(ssm.mock).not.toHaveReceivedAnyCommand();
    });

    it('rejects a malformed image with InputInvalid', async () => {
      await expect(
        resolveDeployPlan(deps, {
          request: { ...manualStart, image: 'web@sha256:123' },
          executionArn,
          startedAt,
        }),
      ).rejects.toMatchObject({ name: 'InputInvalid' });
    });

    it('throws ConfigNotFound for an app/environment without config', async () => {
      await expect(
        resolveDeployPlan(deps, { request: { ...manualStart, env: 'qa' }, executionArn, startedAt }),
      ).rejects.toMatchObject({ name: 'ConfigNotFound' });
    });
  });

  describe('the target service', () => {
    it('reads the service with its tags and accepts one tagged gantry:managed=true', async () => {
      imageInEcr(['v1.4.2']);

      await resolveDeployPlan(deps, { request: manualStart, executionArn, startedAt });

      expect(ecsMock).toHaveReceivedCommandWith(DescribeServicesCommand, {
        cluster: 'prod',
        services: ['web'],
        include: ['TAGS'],
      });
    });

    it.each([
      ['without the tag', [{ key: 'team', value: 'payments' }], 'has no such tag'],
      [
        'tagged gantry:managed=false',
        [{ key: 'gantry:managed', value: 'false' }],
        'has gantry:managed=false',
      ],
    ])(
      'refuses a service %s with ServiceNotManaged naming the tag to add, reading nothing else',
      async (_, tags, found) => {
        // Prepare
        ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf({ tags })));
        imageInEcr(['v1.4.2']);

        // Act
        const resolving = resolveDeployPlan(deps, { request: manualStart, executionArn, startedAt });

        // Assess
        await expect(resolving).rejects.toMatchObject({
          name: 'ServiceNotManaged',
          message: `ECS service prod/web ${found}: add the tag gantry:managed=true to the service (aws ecs tag-resource) to let Gantry deploy it`,
        });
        expect(ecrMock).not.toHaveReceivedAnyCommand();
      },
    );

    it('refuses a rollback of an untagged service too', async () => {
      ssm.put(releaseName, liveRelease);
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf({ tags: [] })));

      await expect(
        resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt }),
      ).rejects.toMatchObject({ name: 'ServiceNotManaged' });
    });

    it('reads AccessDeniedException, which the tag condition answers for an untagged service, as ServiceNotManaged', async () => {
      ecsMock
        .on(DescribeServicesCommand)
        .rejects(
          new AccessDeniedException({ message: 'not authorized', $metadata: { httpStatusCode: 400 } }),
        );

      await expect(
        resolveDeployPlan(deps, { request: manualStart, executionArn, startedAt }),
      ).rejects.toMatchObject({
        name: 'ServiceNotManaged',
        message: expect.stringContaining('add the tag gantry:managed=true'),
      });
    });
  });

  describe('a rollback', () => {
    /** The rollback target's image is in ECR and its revision ACTIVE, unless a test says otherwise. */
    const runnable = (status: 'ACTIVE' | 'INACTIVE' = 'ACTIVE') => {
      imageInEcr(['v1.4.1']);
      ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: { status } });
    };

    it('goes back to the recorded previous release and reuses its task definition', async () => {
      // Prepare
      ssm.put(releaseName, liveRelease);
      runnable();

      // Act
      const plan = await resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt });

      // Assess
      expect(plan).toMatchObject({
        mode: 'rollback',
        reason: 'bad release',
        desired: previousRelease,
        live: { digest: story.digest, revision: story.taskDefinitionArn },
        livePrevious: null,
      });
      expect(plan.desired.revision).toBe(story.previousTaskDefinitionArn);
    });

    it('checks first that the release can still run: its image in ECR, its task definition ACTIVE', async () => {
      ssm.put(releaseName, liveRelease);
      runnable();

      await resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt });

      expect(ecrMock).toHaveReceivedCommandWith(DescribeImagesCommand, {
        repositoryName: 'web',
        imageIds: [{ imageDigest: story.previousDigest }],
      });
      expect(ecsMock).toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, {
        taskDefinition: story.previousTaskDefinitionArn,
      });
    });

    it('refuses a release whose image was deleted from ECR, changing nothing', async () => {
      ssm.put(releaseName, liveRelease);
      ecrMock
        .on(DescribeImagesCommand)
        .rejects(new ImageNotFoundException({ message: 'gone', $metadata: {} }));

      await expect(
        resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt }),
      ).rejects.toMatchObject({
        name: 'ImageNotFound',
        message: expect.stringContaining('is no longer in ECR'),
      });
    });

    it('refuses a release whose task definition was deregistered (INACTIVE), saying how to run it again', async () => {
      ssm.put(releaseName, liveRelease);
      runnable('INACTIVE');

      await expect(
        resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt }),
      ).rejects.toMatchObject({
        name: 'DeployFailed',
        message: expect.stringContaining(
          'is INACTIVE: ECS does not update a service to a deregistered revision',
        ),
      });
    });

    it('goes back to any release of the history it is given "to"', async () => {
      const older = {
        ...previousRelease,
        tag: 'v1.3.0',
        digest: `sha256:${'1'.repeat(64)}`,
        revision: 'arn:aws:ecs:us-east-2:210987654321:task-definition/web:30',
      };
      ssm.put(releaseName, liveRelease);
      await appendRelease(
        table.table,
        { app: 'web', env: 'prod' },
        { ...liveRelease, ...older, at: '2025-06-01T10:00:00.000Z', previous: null },
      );
      await appendRelease(table.table, { app: 'web', env: 'prod' }, liveRelease);
      runnable();

      const plan = await resolveDeployPlan(deps, {
        request: { ...manualRollback, to: 'v1.3.0' },
        executionArn,
        startedAt,
      });

      expect(plan).toMatchObject({
        mode: 'rollback',
        desired: older,
        rollbackTo: older,
        live: { tag: 'v1.4.2' },
      });
    });

    it('refuses "to" the release that runs already', async () => {
      ssm.put(releaseName, liveRelease);
      await appendRelease(table.table, { app: 'web', env: 'prod' }, liveRelease);

      await expect(
        resolveDeployPlan(deps, { request: { ...manualRollback, to: 'v1.4.2' }, executionArn, startedAt }),
      ).rejects.toMatchObject({
        name: 'InputInvalid',
        message: 'web/prod runs v1.4.2 already: nothing to roll back to',
      });
    });

    it('throws NoPreviousRelease when nothing was recorded', async () => {
      await expect(
        resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt }),
      ).rejects.toMatchObject({
        name: 'NoPreviousRelease',
        message: 'web/prod has no recorded previous release to roll back to',
      });
    });

    it('throws NoPreviousRelease when the live release has no previous one', async () => {
      ssm.put(releaseName, { ...liveRelease, previous: null });

      await expect(
        resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt }),
      ).rejects.toMatchObject({ name: 'NoPreviousRelease' });
    });

    it('treats an unreadable release record as absent', async () => {
      ssm.put(releaseName, '{"hand":"edited"');

      await expect(
        resolveDeployPlan(deps, { request: manualRollback, executionArn, startedAt }),
      ).rejects.toMatchObject({ name: 'NoPreviousRelease' });
    });
  });
});
