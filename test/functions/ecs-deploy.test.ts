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
  deployImageToEcs,
  deployTaskDefinitionToEcs,
  describeService,
  followEcsRollback,
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
      ecsMock.on(UpdateServiceCommand).resolves({ service: serviceOf({ deployments: [] }) });

      await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
        name: 'ServiceChangedWithoutDeployment',
      });
    });

    it('returns the deployment a retried step already started, with its recorded rollback target', async () => {
      // Prepare: the service already runs the revision this execution registered.
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(describeServicesResponse(serviceRollingOut('IN_PROGRESS')));
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

      it('turns a 500 into TransientAwsError', async () => {
        primedForDeploy();
        ecsMock
          .on(UpdateServiceCommand)
          .rejects(new ServerException({ message: 'internal error', $metadata: { httpStatusCode: 500 } }));

        await expect(deployImageToEcs(ecs, target, newImage, story.executionArn)).rejects.toMatchObject({
          name: 'TransientAwsError',
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
          message: expect.stringContaining('AccessDeniedException'),
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

      await expect(
        followEcsRollback(ecs, target, story.deploymentId, story.previousTaskDefinitionArn, patience()),
      ).resolves.toEqual({
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
      const followed = await followEcsRollback(
        ecs,
        target,
        story.deploymentId,
        story.previousTaskDefinitionArn,
        waiting,
      );

      // Assess
      expect(followed?.deploymentId).toBe('ecs-svc/5555555555555555555');
      expect(waiting.sleep).toHaveBeenCalledTimes(1);
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    });

    it('throws TransientAwsError, changing nothing, when ECS has still not started its rollback', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceRollingOut('FAILED')));

      await expect(
        followEcsRollback(ecs, target, story.deploymentId, story.previousTaskDefinitionArn, patience(3)),
      ).rejects.toMatchObject({ name: 'TransientAwsError' });
      expect(ecsMock).toHaveReceivedCommandTimes(DescribeServicesCommand, 3);
      expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    });

    it('returns nothing when no other deployment completed, as ECS then has nothing to roll back to', async () => {
      ecsMock
        .on(DescribeServicesCommand)
        .resolves(
          describeServicesResponse(
            serviceOf({ deployments: serviceRollingOut('FAILED').deployments?.slice(0, 1) ?? [] }),
          ),
        );

      await expect(
        followEcsRollback(ecs, target, story.deploymentId, story.previousTaskDefinitionArn, patience()),
      ).resolves.toBeUndefined();
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

  describe('describeService', () => {
    it('returns the ACTIVE service', async () => {
      ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));

      await expect(describeService(ecs, target)).resolves.toMatchObject({ serviceArn: story.serviceArn });
    });
  });
});
