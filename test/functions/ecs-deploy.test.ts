import {
  AccessDeniedException,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ECSServiceException,
  RegisterTaskDefinitionCommand,
  ServerException,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  defaultEcsRollbackPatience,
  deployImageToEcs,
  deployTaskDefinitionToEcs,
  describeService,
  followEcsRollback,
  requireManagedService,
} from '../../functions/src/ecs/deploy.ts';
import {
  describeServicesResponse,
  describeTaskDefinitionResponse,
  serviceOf,
  serviceRollingOut,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: story.region });
const target = webConfig.target;
const newImage = `${story.registry}/web@${story.digest}`;
const previousImage = `${story.registry}/web@${story.previousDigest}`;

function registeredRevision() {
  const described = describeTaskDefinitionResponse();
  return {
    taskDefinition: { ...described.taskDefinition, taskDefinitionArn: story.taskDefinitionArn, revision: 42 },
    tags: described.tags,
  };
}

function primedForDeploy() {
  ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));
  ecsMock.on(DescribeTaskDefinitionCommand).resolves(describeTaskDefinitionResponse(previousImage));
  ecsMock.on(RegisterTaskDefinitionCommand).resolves(registeredRevision());
  ecsMock.on(UpdateServiceCommand).resolves({ service: serviceRollingOut('IN_PROGRESS') });
}

afterEach(() => {
  ecsMock.reset();
  vi.useRealTimers();
});

describe('ecs/deploy', () => {
  describe('deployImageToEcs', () => {
    it('copies the running revision with the new image and rolls it out', async () => {
      // Prepare
      primedForDeploy();
      const { taskDefinition, tags } = describeTaskDefinitionResponse(previousImage);
      const {
        taskDefinitionArn: _arn,
        revision: _revision,
        status: _status,
        requiresAttributes: _requires,
        compatibilities: _compatibilities,
        registeredAt: _at,
        registeredBy: _by,
        containerDefinitions = [],
        ...writable
      } = taskDefinition ?? {};
      const expectedRegistration = {
        ...writable,
        containerDefinitions: containerDefinitions.map((container) =>
          container.name === 'app' ? { ...container, image: newImage } : container,
        ),
        tags: [
          ...(tags ?? []),
          { key: 'gantry:execution', value: story.executionArn },
          { key: 'gantry:previous-task-definition', value: story.previousTaskDefinitionArn },
          { key: 'gantry:previous-image', value: previousImage },
        ],
      };

      // Act
      const deployment = await deployImageToEcs(ecs, target, newImage, story.executionArn);

      // Assess
      expect(ecsMock).toHaveReceivedCommandWith(DescribeServicesCommand, {
        cluster: 'prod',
        services: ['web'],
      });
      expect(ecsMock).toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, {
        taskDefinition: story.previousTaskDefinitionArn,
        include: ['TAGS'],
      });
      expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(
        RegisterTaskDefinitionCommand,
        expectedRegistration,
      );
      // The matcher compares partially; the registration must carry nothing else either.
      expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input).toStrictEqual(
        expectedRegistration,
      );
      expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
        cluster: 'prod',
        service: 'web',
        taskDefinition: story.taskDefinitionArn,
      });
      expect(deployment).toEqual({
        deploymentId: story.deploymentId,
        taskDefinitionArn: story.taskDefinitionArn,
        previousTaskDefinitionArn: story.previousTaskDefinitionArn,
        previousImage,
      });
    });

    it('registers with the new image, the same family and the tags, and without read-only fields', async () => {
      primedForDeploy();

      await deployImageToEcs(ecs, target, newImage, story.executionArn);

      const input = ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
      expect(input).toMatchObject({
        family: 'web',
        containerDefinitions: [{ name: 'app', image: newImage }, { name: 'log-router' }],
        tags: [
          { key: 'team', value: 'payments' },
          { key: 'gantry:app', value: 'web' },
          { key: 'gantry:execution', value: story.executionArn },
          { key: 'gantry:previous-task-definition', value: story.previousTaskDefinitionArn },
          { key: 'gantry:previous-image', value: previousImage },
        ],
      });
      expect(input).not.toHaveProperty('taskDefinitionArn');
      expect(input).not.toHaveProperty('requiresAttributes');
    });

    it('makes the calls in order: describe service, describe revision, register, update', async () => {
      primedForDeploy();

      await deployImageToEcs(ecs, target, newImage, story.executionArn);

      expect(ecsMock.calls().map((call) => call.args[0].constructor.name)).toEqual([
        'DescribeServicesCommand',
        'DescribeTaskDefinitionCommand',
        'RegisterTaskDefinitionCommand',
        'UpdateServiceCommand',
      ]);
    });

    it('returns the PRIMARY deployment, not the one being drained', async () => {
      primedForDeploy();
      const rolling = serviceRollingOut('IN_PROGRESS');
      ecsMock
        .on(UpdateServiceCommand)
        .resolves({ service: { ...rolling, deployments: [...(rolling.deployments ?? [])].reverse() } });

      await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).resolves.toMatchObject({
        deploymentId: story.deploymentId,
      });
    });

    it('fails with an error that leads to a rollback when UpdateService changed the service but named no deployment', async () => {
      primedForDeploy();
      ecsMock.on(UpdateServiceCommand).resolves({ service: serviceOf({ deployments: undefined }) });

      await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
        name: 'ServiceChangedWithoutDeployment',
      });
    });

    it('returns the deployment a retried step already started, with its recorded rollback target', async () => {
      // Prepare: the service already runs the revision this execution registered; ECS promises no
      // order of the deployments, so the one being drained may come first.
      const rolling = serviceRollingOut('IN_PROGRESS');
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(
          describeServicesResponse({ ...rolling, deployments: [...(rolling.deployments ?? [])].reverse() }),
        );
      const { taskDefinition } = describeTaskDefinitionResponse(newImage);
      ecsMock.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition,
        tags: [
          { key: 'gantry:execution', value: story.executionArn },
          { key: 'gantry:previous-task-definition', value: story.previousTaskDefinitionArn },
          { key: 'gantry:previous-image', value: previousImage },
        ],
      });

      // Act
      const deployment = await deployImageToEcs(ecs, target, newImage, story.executionArn);

      // Assess
      expect(ecsMock).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      expect(deployment).toMatchObject({
        deploymentId: story.deploymentId,
        previousTaskDefinitionArn: story.previousTaskDefinitionArn,
        previousImage,
      });
    });

    it('drops reserved aws: tags the old revision carried', async () => {
      primedForDeploy();
      const described = describeTaskDefinitionResponse(previousImage);
      ecsMock.on(DescribeTaskDefinitionCommand).resolves({
        ...described,
        tags: [...(described.tags ?? []), { key: 'aws:cloudformation:stack-name', value: 'legacy' }],
      });

      await deployImageToEcs(ecs, target, newImage, story.executionArn);

      const input = ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
      expect(input?.tags?.map((tag) => tag.key)).not.toContain('aws:cloudformation:stack-name');
    });

    it('fails with DeployFailed naming the containers when the target container is not there', async () => {
      primedForDeploy();

      await expect(
        deployImageToEcs(ecs, { ...target, container: 'web' }, newImage, story.executionArn),
      ).rejects.toMatchObject({
        name: 'DeployFailed',
        message: expect.stringContaining('(it has: app, log-router)'),
      });
      expect(ecsMock).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    });

    it('records the previous image of the target container, not of the first container listed', async () => {
      // Prepare: the log router sidecar is listed before the app container.
      primedForDeploy();
      const described = describeTaskDefinitionResponse(previousImage);
      const containers = described.taskDefinition?.containerDefinitions ?? [];
      ecsMock.on(DescribeTaskDefinitionCommand).resolves({
        ...described,
        taskDefinition: { ...described.taskDefinition, containerDefinitions: [...containers].reverse() },
      });

      // Act
      const deployment = await deployImageToEcs(ecs, target, newImage, story.executionArn);

      // Assess
      expect(deployment.previousImage).toBe(previousImage);
      expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input.tags).toContainEqual({
        key: 'gantry:previous-image',
        value: previousImage,
      });
    });

    it('tags the new revision with Gantry’s tags alone when the running one has none', async () => {
      primedForDeploy();
      ecsMock
        .on(DescribeTaskDefinitionCommand)
        .resolves({ taskDefinition: describeTaskDefinitionResponse(previousImage).taskDefinition });

      await deployImageToEcs(ecs, target, newImage, story.executionArn);

      expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input.tags).toStrictEqual([
        { key: 'gantry:execution', value: story.executionArn },
        { key: 'gantry:previous-task-definition', value: story.previousTaskDefinitionArn },
        { key: 'gantry:previous-image', value: previousImage },
      ]);
    });

    it('registers anew when the running revision was registered by another execution', async () => {
      // Prepare: a revision an earlier deploy registered, carrying that execution's tags.
      primedForDeploy();
      const { taskDefinition } = describeTaskDefinitionResponse(previousImage);
      const earlier = `${story.executionArn}-earlier`;
      ecsMock.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition,
        tags: [
          { key: 'gantry:execution', value: earlier },
          {
            key: 'gantry:previous-task-definition',
            value: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:40',
          },
        ],
      });

      // Act
      const deployment = await deployImageToEcs(ecs, target, newImage, story.executionArn);

      // Assess: this execution's tags replace the earlier ones.
      expect(ecsMock).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 1);
      expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input.tags).toEqual([
        { key: 'gantry:execution', value: story.executionArn },
        { key: 'gantry:previous-task-definition', value: story.previousTaskDefinitionArn },
        { key: 'gantry:previous-image', value: previousImage },
      ]);
      expect(deployment.previousTaskDefinitionArn).toBe(story.previousTaskDefinitionArn);
    });

    it('falls back to the running revision as rollback target when its own revision carries none', async () => {
      // Prepare: a retried step whose revision only carries the execution tag.
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));
      ecsMock.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition: describeTaskDefinitionResponse(newImage).taskDefinition,
        tags: [{ key: 'gantry:execution', value: story.executionArn }],
      });

      // Act
      const deployment = await deployImageToEcs(ecs, target, newImage, story.executionArn);

      // Assess
      expect(deployment).toStrictEqual({
        deploymentId: story.deploymentId,
        taskDefinitionArn: story.taskDefinitionArn,
        previousTaskDefinitionArn: story.taskDefinitionArn,
      });
    });

    it.each([
      [
        'the service names no task definition to copy',
        () =>
          ecsMock
            .on(DescribeServicesCommand)
            .resolves(describeServicesResponse(serviceOf({ taskDefinition: undefined }))),
        'service prod/web has no task definition to copy',
        'DescribeTaskDefinitionCommand',
      ],
      [
        'the running task definition cannot be described',
        () => ecsMock.on(DescribeTaskDefinitionCommand).resolves({}),
        `task definition ${story.previousTaskDefinitionArn} not found`,
        'RegisterTaskDefinitionCommand',
      ],
      [
        'RegisterTaskDefinition names no revision',
        () => ecsMock.on(RegisterTaskDefinitionCommand).resolves({}),
        'RegisterTaskDefinition returned no ARN',
        'UpdateServiceCommand',
      ],
    ] as const)(
      'fails with DeployFailed, before the service changes, when %s',
      async (_, answer, message, notSent) => {
        // Prepare
        primedForDeploy();
        answer();

        // Act
        const deploying = deployImageToEcs(ecs, target, newImage, story.executionArn);

        // Assess
        await expect(deploying).rejects.toMatchObject({ name: 'DeployFailed', message });
        const sent = ecsMock.calls().map((call) => call.args[0].constructor.name);
        expect(sent).not.toContain(notSent);
        expect(sent).not.toContain('UpdateServiceCommand');
      },
    );

    it('says which service changed without naming a deployment', async () => {
      primedForDeploy();
      ecsMock.on(UpdateServiceCommand).resolves({});

      await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
        name: 'ServiceChangedWithoutDeployment',
        message: 'UpdateService on web returned no PRIMARY deployment',
      });
    });

    describe('an unusable service', () => {
      it('fails with DeployFailed when the service is INACTIVE', async () => {
        ecsMock
          .on(DescribeServicesCommand)
          .resolves(describeServicesResponse(serviceOf({ status: 'INACTIVE' })));

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'DeployFailed',
          message: 'ECS service prod/web is not usable: INACTIVE',
        });
        expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      });

      it('fails with DeployFailed saying not found when ECS answers neither the service nor a failure', async () => {
        ecsMock.on(DescribeServicesCommand).resolves({ $metadata: {} });

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'DeployFailed',
          message: 'ECS service prod/web is not usable: not found',
        });
      });

      it('fails with DeployFailed when the service is missing', async () => {
        ecsMock.on(DescribeServicesCommand).resolves({
          $metadata: {},
          services: [],
          failures: [{ arn: story.serviceArn, reason: 'MISSING' }],
        });

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'DeployFailed',
          message: 'ECS service prod/web is not usable: MISSING',
        });
      });
    });

    describe('a service another deployment controller drives', () => {
      it.each([
        ['CODE_DEPLOY', 'a CodeDeploy deployment'],
        ['EXTERNAL', 'a new task set'],
      ] as const)('refuses a %s service with DeployFailed before registering anything', async (type, how) => {
        // Prepare
        primedForDeploy();
        ecsMock
          .on(DescribeServicesCommand)
          .resolves(describeServicesResponse(serviceOf({ deploymentController: { type } })));

        // Act
        const deploying = deployImageToEcs(ecs, target, newImage, story.executionArn);

        // Assess
        await expect(deploying).rejects.toMatchObject({
          name: 'DeployFailed',
          message: expect.stringContaining(`uses the ${type} deployment controller`),
        });
        await expect(deploying).rejects.toMatchObject({ message: expect.stringContaining(how) });
        expect(ecsMock).not.toHaveReceivedCommand(DescribeTaskDefinitionCommand);
        expect(ecsMock).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
        expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      });

      it('deploys a service on the rolling update (ECS) controller', async () => {
        primedForDeploy();
        ecsMock
          .on(DescribeServicesCommand)
          .resolves(describeServicesResponse(serviceOf({ deploymentController: { type: 'ECS' } })));

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).resolves.toMatchObject({
          deploymentId: story.deploymentId,
        });
      });

      it('refuses to point a CODE_DEPLOY service at a recorded revision too', async () => {
        ecsMock
          .on(DescribeServicesCommand)
          .resolves(describeServicesResponse(serviceOf({ deploymentController: { type: 'CODE_DEPLOY' } })));

        await expect(deployTaskDefinitionToEcs(ecs, target, story.taskDefinitionArn)).rejects.toMatchObject({
          name: 'DeployFailed',
        });
        expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      });
    });

    describe('AWS errors', () => {
      it('turns ThrottlingException into TransientAwsError', async () => {
        primedForDeploy();
        const throttled = new ECSServiceException({
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          message: 'Rate exceeded',
        });
        ecsMock.on(RegisterTaskDefinitionCommand).rejects(throttled);

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'TransientAwsError',
          message: 'registering the new task definition: ThrottlingException: Rate exceeded',
          cause: throttled,
        });
        expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      });

      it('says which service it was describing when DescribeServices is throttled', async () => {
        ecsMock.on(DescribeServicesCommand).rejects(
          new ECSServiceException({
            name: 'ThrottlingException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
            message: 'Rate exceeded',
          }),
        );

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'TransientAwsError',
          message: 'describing service web: ThrottlingException: Rate exceeded',
        });
      });

      it('turns a 500 into TransientAwsError saying which service it was updating', async () => {
        primedForDeploy();
        ecsMock
          .on(UpdateServiceCommand)
          .rejects(new ServerException({ message: 'internal error', $metadata: { httpStatusCode: 500 } }));

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'TransientAwsError',
          message: 'updating service web: ServerException: internal error',
        });
      });

      it('turns a final refusal before the change into DeployFailed, keeping the cause', async () => {
        primedForDeploy();
        const denied = new AccessDeniedException({
          message: 'User is not authorized to perform: iam:PassRole',
          $metadata: { httpStatusCode: 400 },
        });
        ecsMock.on(RegisterTaskDefinitionCommand).rejects(denied);

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'DeployFailed',
          message:
            'ECS refused the change: AccessDeniedException: User is not authorized to perform: iam:PassRole',
          cause: denied,
        });
        expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
      });
    });
  });

  describe('deployTaskDefinitionToEcs', () => {
    it('points the service at the existing revision without registering one', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));
      ecsMock.on(UpdateServiceCommand).resolves({ service: serviceRollingOut('IN_PROGRESS') });

      const deployment = await deployTaskDefinitionToEcs(ecs, target, story.taskDefinitionArn);

      expect(ecsMock).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
        cluster: 'prod',
        service: 'web',
        taskDefinition: story.taskDefinitionArn,
      });
      expect(ecsMock).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
      expect(deployment).toEqual({
        deploymentId: story.deploymentId,
        taskDefinitionArn: story.taskDefinitionArn,
        previousTaskDefinitionArn: story.previousTaskDefinitionArn,
      });
    });
  });

  describe('followEcsRollback', () => {
    const patience = (polls = 3) => ({ polls, intervalMs: 1000, sleep: vi.fn(async () => undefined) });
    /** Follows ECS's rollback of the story's deployment to the previous revision. */
    const follow = (waiting: ReturnType<typeof patience>) =>
      followEcsRollback(ecs, target, story.deploymentId, story.previousTaskDefinitionArn, waiting);
    /** ECS's rollback deployment, PRIMARY and running the previous revision. */
    const ecsRollingBack = () =>
      serviceOf({
        deployments: [
          {
            id: 'ecs-svc/5555555555555555555',
            status: 'PRIMARY',
            taskDefinition: story.previousTaskDefinitionArn,
            rolloutState: 'IN_PROGRESS',
          },
          ...(serviceRollingOut('FAILED').deployments ?? []).map((d) => ({ ...d, status: 'ACTIVE' })),
        ],
      });

    it('returns the rollback deployment ECS started when it runs the given revision', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(ecsRollingBack()));

      await expect(follow(patience())).resolves.toEqual({
        deploymentId: 'ecs-svc/5555555555555555555',
        taskDefinitionArn: story.previousTaskDefinitionArn,
        previousTaskDefinitionArn: story.previousTaskDefinitionArn,
      });
    });

    it('waits while the failed deployment is still PRIMARY, then follows ECS’s rollback', async () => {
      // Prepare: ECS fails the deployment first and starts its rollback a moment later.
      ecsMock
        .on(DescribeServicesCommand)
        .resolvesOnce(describeServicesResponse(serviceRollingOut('FAILED')))
        .resolves(describeServicesResponse(ecsRollingBack()));
      const waiting = patience();

      // Act
      const followed = await follow(waiting);

      // Assess
      expect(followed?.deploymentId).toBe('ecs-svc/5555555555555555555');
      expect(waiting.sleep).toHaveBeenCalledTimes(1);
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    });

    it('throws TransientAwsError, changing nothing, when ECS has still not started its rollback', async () => {
      // Prepare
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('FAILED')));
      const waiting = patience(3);

      // Act
      const following = follow(waiting);

      // Assess
      await expect(following).rejects.toMatchObject({
        name: 'TransientAwsError',
        message: `ECS's circuit breaker failed deployment ${story.deploymentId} of web but has not started its rollback yet`,
      });
      expect(ecsMock).toHaveReceivedCommandTimes(DescribeServicesCommand, 3);
      expect(waiting.sleep.mock.calls).toEqual([[1000], [1000]]);
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    });

    it('by default gives ECS 15 looks a second apart, well inside the step’s 30 s Lambda timeout', async () => {
      // Prepare
      vi.useFakeTimers();
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('FAILED')));
      const following = followEcsRollback(ecs, target, story.deploymentId, story.previousTaskDefinitionArn);
      const settled = following.catch((error: unknown) => error);

      // Act
      await vi.advanceTimersByTimeAsync(13_999);
      const looksBeforeTheEnd = ecsMock.commandCalls(DescribeServicesCommand).length;
      await vi.advanceTimersByTimeAsync(1);

      // Assess
      expect(looksBeforeTheEnd).toBe(14);
      await expect(settled).resolves.toMatchObject({ name: 'TransientAwsError' });
      expect(ecsMock).toHaveReceivedCommandTimes(DescribeServicesCommand, 15);
      expect(defaultEcsRollbackPatience).toMatchObject({ polls: 15, intervalMs: 1000 });
    });

    it('returns nothing when no other deployment completed, as ECS then has nothing to roll back to', async () => {
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(
          describeServicesResponse(
            serviceOf({ deployments: serviceRollingOut('FAILED').deployments?.slice(0, 1) ?? [] }),
          ),
        );

      await expect(follow(patience())).resolves.toBeUndefined();
    });

    it('finds ECS’s rollback deployment wherever the service lists it', async () => {
      const rollingBack = ecsRollingBack();
      ecsMock.on(DescribeServicesCommand).resolves(
        describeServicesResponse({
          ...rollingBack,
          deployments: [...(rollingBack.deployments ?? [])].reverse(),
        }),
      );

      await expect(follow(patience())).resolves.toMatchObject({
        deploymentId: 'ecs-svc/5555555555555555555',
      });
    });

    it('returns nothing when the other deployment never completed either, as ECS then has nothing to roll back to', async () => {
      // Prepare: the deployment before the failed one was itself superseded mid-rollout.
      const [failed, older] = serviceRollingOut('FAILED').deployments ?? [];
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(
          describeServicesResponse(
            serviceOf({ deployments: [{ ...failed }, { ...older, rolloutState: 'IN_PROGRESS' }] }),
          ),
        );
      const waiting = patience();

      // Act
      const followed = await follow(waiting);

      // Assess
      expect(followed).toBeUndefined();
      expect(waiting.sleep).not.toHaveBeenCalled();
    });

    it('returns nothing when another deployment runs another revision', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(ecsRollingBack()));

      await expect(
        followEcsRollback(
          ecs,
          target,
          story.deploymentId,
          'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7',
          patience(),
        ),
      ).resolves.toBeUndefined();
    });
  });

  describe('requireManagedService', () => {
    const fix =
      'add the tag gantry:managed=true to the service (aws ecs tag-resource) to let Gantry deploy it';
    const tagged = (...tags: { key: string; value: string }[]) =>
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf({ tags })));

    it('accepts a service tagged gantry:managed=true, reading its tags', async () => {
      tagged({ key: 'team', value: 'payments' }, { key: 'gantry:managed', value: 'true' });

      await expect(requireManagedService(ecs, target)).resolves.toBeUndefined();
      expect(ecsMock).toHaveReceivedCommandWith(DescribeServicesCommand, {
        cluster: 'prod',
        services: ['web'],
        include: ['TAGS'],
      });
    });

    it('refuses a service without the tag with ServiceNotManaged, saying how to allow it', async () => {
      tagged({ key: 'team', value: 'payments' });

      await expect(requireManagedService(ecs, target)).rejects.toMatchObject({
        name: 'ServiceNotManaged',
        message: `ECS service prod/web has no such tag: ${fix}`,
      });
    });

    it('refuses a service with no tags at all', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));

      await expect(requireManagedService(ecs, target)).rejects.toMatchObject({
        name: 'ServiceNotManaged',
        message: `ECS service prod/web has no such tag: ${fix}`,
      });
    });

    it('refuses a service whose tag is not true, naming the value it has', async () => {
      tagged({ key: 'gantry:managed', value: 'false' });

      await expect(requireManagedService(ecs, target)).rejects.toMatchObject({
        name: 'ServiceNotManaged',
        message: `ECS service prod/web has gantry:managed=false: ${fix}`,
      });
    });

    it('reads AccessDeniedException as the missing tag the stack’s grant requires', async () => {
      // Prepare: the stack only lets Gantry describe services carrying the tag.
      const denied = new AccessDeniedException({
        message: 'User is not authorized to perform: ecs:DescribeServices',
        $metadata: { httpStatusCode: 400 },
      });
      ecsMock.on(DescribeServicesCommand).rejects(denied);

      // Act / Assess
      await expect(requireManagedService(ecs, target)).rejects.toMatchObject({
        name: 'ServiceNotManaged',
        message: `Gantry may not describe ECS service prod/web: ${fix}`,
        cause: denied,
      });
    });

    it('lets other failures through as they are', async () => {
      ecsMock
        .on(DescribeServicesCommand)
        .rejects(new ServerException({ message: 'internal error', $metadata: { httpStatusCode: 500 } }));

      await expect(requireManagedService(ecs, target)).rejects.toMatchObject({ name: 'TransientAwsError' });
    });
  });

  describe('describeService', () => {
    it('returns the ACTIVE service, without asking for its tags', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));

      await expect(describeService(ecs, target)).resolves.toMatchObject({ serviceArn: story.serviceArn });
      expect(ecsMock.commandCalls(DescribeServicesCommand)[0]?.args[0].input).toStrictEqual({
        cluster: 'prod',
        services: ['web'],
      });
    });
  });
});
