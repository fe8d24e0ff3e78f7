import { readFileSync } from 'node:fs';
import type {
  DescribeServicesCommandOutput,
  DescribeTaskDefinitionCommandOutput,
  DescribeTasksCommandOutput,
  ECSClient,
  Service,
  Task,
} from '@aws-sdk/client-ecs';
import { LightsailClient } from '@aws-sdk/client-lightsail';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DeployConfig, EcsTarget } from '../../functions/src/config/schema.ts';
import type { TargetClients } from '../../functions/src/targets/target.ts';

/** The sample events in `events/`, shaped as AWS delivers them. */
export function loadEvent<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8')) as T;
}

/** The one consistent story of `events/README.md`. */
export const story = {
  account: '123456789012',
  region: 'eu-west-1',
  registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
  cluster: 'prod',
  service: 'web',
  container: 'app',
  digest: 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
  previousDigest: 'sha256:abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd',
  deploymentId: 'ecs-svc/1234567890123456789',
  previousDeploymentId: 'ecs-svc/9876543210987654321',
  serviceArn: 'arn:aws:ecs:eu-west-1:123456789012:service/prod/web',
  clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod',
  taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42',
  previousTaskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:41',
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:push-web-prod-1',
} as const;

/** An ECS app's config (typed as such, so tests read its ECS fields without narrowing). */
export const webConfig: DeployConfig & { target: EcsTarget } = {
  repository: 'web',
  tagPattern: '^v\\d+\\.\\d+\\.\\d+$',
  target: { type: 'ecs', cluster: story.cluster, service: story.service, container: story.container },
  health: { timeoutSeconds: 900, maxFailedTasks: 2 },
  rollbackAlarms: ['web-prod-5xx'],
};

const metadata = { httpStatusCode: 200, requestId: 'c0ffee00-0000-4000-8000-000000000000', attempts: 1 };

/**
 * A DescribeTaskDefinition response with `include: ['TAGS']`, every field a Fargate service's
 * revision comes back with (including the read-only ones RegisterTaskDefinition refuses).
 */
export function describeTaskDefinitionResponse(
  image = `${story.registry}/web@${story.previousDigest}`,
): DescribeTaskDefinitionCommandOutput {
  return {
    $metadata: metadata,
    taskDefinition: {
      taskDefinitionArn: story.previousTaskDefinitionArn,
      family: 'web',
      revision: 41,
      status: 'ACTIVE',
      taskRoleArn: 'arn:aws:iam::123456789012:role/web-prod-task',
      executionRoleArn: 'arn:aws:iam::123456789012:role/web-prod-execution',
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      requiresCompatibilities: ['FARGATE'],
      compatibilities: ['EC2', 'FARGATE'],
      runtimePlatform: { cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' },
      ephemeralStorage: { sizeInGiB: 21 },
      registeredAt: new Date('2025-05-28T09:12:44.391Z'),
      registeredBy: 'arn:aws:sts::123456789012:assumed-role/gantry-dev-deployEcs/gantry-dev-deployEcs',
      requiresAttributes: [
        { name: 'com.amazonaws.ecs.capability.logging-driver.awslogs' },
        { name: 'ecs.capability.execution-role-awslogs' },
        { name: 'com.amazonaws.ecs.capability.ecr-auth' },
        { name: 'ecs.capability.secrets.ssm.environment-variables' },
        { name: 'ecs.capability.efsAuth' },
        { name: 'ecs.capability.efs' },
        { name: 'ecs.capability.container-health-check' },
        { name: 'com.amazonaws.ecs.capability.task-iam-role' },
        { name: 'ecs.capability.task-eni' },
      ],
      placementConstraints: [],
      volumes: [
        {
          name: 'uploads',
          efsVolumeConfiguration: {
            fileSystemId: 'fs-0123456789abcdef0',
            rootDirectory: '/',
            transitEncryption: 'ENABLED',
            authorizationConfig: { accessPointId: 'fsap-0123456789abcdef0', iam: 'ENABLED' },
          },
        },
      ],
      containerDefinitions: [
        {
          name: 'app',
          image,
          cpu: 0,
          essential: true,
          portMappings: [
            { containerPort: 8080, hostPort: 8080, protocol: 'tcp', name: 'http', appProtocol: 'http' },
          ],
          environment: [
            { name: 'NODE_ENV', value: 'production' },
            { name: 'PORT', value: '8080' },
          ],
          secrets: [
            {
              name: 'DATABASE_URL',
              valueFrom: 'arn:aws:ssm:eu-west-1:123456789012:parameter/web/prod/database-url',
            },
          ],
          mountPoints: [{ sourceVolume: 'uploads', containerPath: '/srv/uploads', readOnly: false }],
          volumesFrom: [],
          systemControls: [],
          healthCheck: {
            command: ['CMD-SHELL', 'curl -f http://localhost:8080/health || exit 1'],
            interval: 30,
            timeout: 5,
            retries: 3,
            startPeriod: 10,
          },
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': '/ecs/web-prod',
              'awslogs-region': 'eu-west-1',
              'awslogs-stream-prefix': 'app',
            },
            secretOptions: [],
          },
        },
        {
          name: 'log-router',
          image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable',
          cpu: 0,
          essential: false,
          portMappings: [],
          environment: [],
          mountPoints: [],
          volumesFrom: [],
          user: '0',
          firelensConfiguration: { type: 'fluentbit', options: { 'enable-ecs-log-metadata': 'true' } },
        },
      ],
    },
    tags: [
      { key: 'team', value: 'payments' },
      { key: 'gantry:app', value: 'web' },
    ],
  };
}

/** A DescribeServices entry for `prod/web`, the breaker on and rolling back by default. */
export function serviceOf(overrides: Partial<Service> = {}): Service {
  return {
    serviceArn: story.serviceArn,
    serviceName: story.service,
    clusterArn: story.clusterArn,
    status: 'ACTIVE',
    desiredCount: 2,
    runningCount: 2,
    pendingCount: 0,
    launchType: 'FARGATE',
    platformVersion: 'LATEST',
    taskDefinition: story.previousTaskDefinitionArn,
    deploymentConfiguration: {
      deploymentCircuitBreaker: { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
    },
    deployments: [
      {
        id: story.previousDeploymentId,
        status: 'PRIMARY',
        taskDefinition: story.previousTaskDefinitionArn,
        desiredCount: 2,
        pendingCount: 0,
        runningCount: 2,
        failedTasks: 0,
        createdAt: new Date('2025-05-28T09:13:00Z'),
        updatedAt: new Date('2025-05-28T09:17:00Z'),
        launchType: 'FARGATE',
        rolloutState: 'COMPLETED',
        rolloutStateReason: `ECS deployment ${story.previousDeploymentId} completed.`,
      },
    ],
    schedulingStrategy: 'REPLICA',
    ...overrides,
  };
}

/** The service mid-rollout of `story.deploymentId`, with that deployment in `rolloutState`. */
export function serviceRollingOut(
  rolloutState: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED',
  overrides: Partial<Service> = {},
): Service {
  return serviceOf({
    taskDefinition: story.taskDefinitionArn,
    deployments: [
      {
        id: story.deploymentId,
        status: 'PRIMARY',
        taskDefinition: story.taskDefinitionArn,
        desiredCount: 2,
        pendingCount: rolloutState === 'IN_PROGRESS' ? 1 : 0,
        runningCount: rolloutState === 'COMPLETED' ? 2 : 1,
        failedTasks: rolloutState === 'FAILED' ? 3 : 0,
        createdAt: new Date('2025-06-03T10:15:08Z'),
        updatedAt: new Date('2025-06-03T10:16:12Z'),
        launchType: 'FARGATE',
        rolloutState,
        rolloutStateReason:
          rolloutState === 'FAILED'
            ? 'ECS deployment circuit breaker: task failed to start.'
            : `ECS deployment ${story.deploymentId} in progress.`,
      },
      {
        id: story.previousDeploymentId,
        status: 'ACTIVE',
        taskDefinition: story.previousTaskDefinitionArn,
        desiredCount: 2,
        pendingCount: 0,
        runningCount: 2,
        failedTasks: 0,
        createdAt: new Date('2025-05-28T09:13:00Z'),
        updatedAt: new Date('2025-05-28T09:17:00Z'),
        launchType: 'FARGATE',
        rolloutState: 'COMPLETED',
      },
    ],
    ...overrides,
  });
}

export function describeServicesResponse(...services: Service[]): DescribeServicesCommandOutput {
  return { $metadata: metadata, services, failures: [] };
}

/** A stopped task of the new deployment, as DescribeTasks returns it. */
export function stoppedTask(
  index: number,
  stop: { stopCode: Task['stopCode']; stoppedReason: string; exitCode?: number },
): Task {
  const id = `a1b2c3d4e5f60718293a4b5c6d7e${index.toString(16).padStart(4, '0')}`;
  const taskArn = `arn:aws:ecs:eu-west-1:123456789012:task/prod/${id}`;
  return {
    taskArn,
    clusterArn: story.clusterArn,
    taskDefinitionArn: story.taskDefinitionArn,
    startedBy: story.deploymentId,
    group: 'service:web',
    launchType: 'FARGATE',
    lastStatus: 'STOPPED',
    desiredStatus: 'STOPPED',
    stopCode: stop.stopCode,
    stoppedReason: stop.stoppedReason,
    createdAt: new Date('2025-06-03T10:15:09.482Z'),
    startedAt: new Date('2025-06-03T10:15:33.871Z'),
    stoppedAt: new Date('2025-06-03T10:16:11.957Z'),
    cpu: '256',
    memory: '512',
    containers: [
      {
        containerArn: `arn:aws:ecs:eu-west-1:123456789012:container/prod/${id}/b0d1532c-2934-418b-a204-3f68b6bf88bb`,
        taskArn,
        name: 'app',
        image: `${story.registry}/web@${story.digest}`,
        lastStatus: 'STOPPED',
        ...(stop.exitCode !== undefined && { exitCode: stop.exitCode }),
        reason: stop.exitCode !== undefined ? undefined : 'CannotPullContainerError: pull image manifest',
      },
    ],
  };
}

export function describeTasksResponse(tasks: Task[]): DescribeTasksCommandOutput {
  return { $metadata: metadata, tasks, failures: [] };
}

export const crashed = {
  stopCode: 'EssentialContainerExited',
  stoppedReason: 'Essential container in task exited',
  exitCode: 1,
} as const;

/** The error `act` throws, for tests that inspect more than its name; fails when nothing is thrown. */
export function thrownBy(act: () => unknown): unknown {
  try {
    act();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

/**
 * The targets' clients for a test that meets only ECS: the other targets' clients exist but point
 * nowhere (a call would fail loudly), as `targetClients` builds them lazily on AWS.
 */
export function ecsTargetClients(ecs: ECSClient): TargetClients {
  const unused = { region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', maxAttempts: 1 };
  return {
    ecs,
    ssm: new SSMClient(unused),
    sqs: new SQSClient(unused),
    lightsail: new LightsailClient(unused),
    parameterPrefix: '/gantry',
  };
}
