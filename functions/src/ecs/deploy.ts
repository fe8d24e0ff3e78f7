import {
  DescribeServicesCommand,
  type ECSClient,
  RegisterTaskDefinitionCommand,
  type Service,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import type { EcsTarget } from '../config/schema.ts';
import {
  awsCall,
  DeployFailed,
  GantryError,
  hasErrorName,
  ServiceNotManaged,
  TransientAwsError,
} from '../errors.ts';
import { type StagedStrategy, stagedStrategyOf } from './service-deployment.ts';
import { describeCopyableTaskDefinition, withContainerImage } from './task-definition.ts';

export interface EcsDeployment {
  /** The ECS deployment id (`ecs-svc/…`) whose rollout Gantry waits for. */
  deploymentId: string;
  taskDefinitionArn: string;
  /** What the service ran before Gantry changed it: the rollback target when no release is recorded. */
  previousTaskDefinitionArn: string;
  /** The target container's image in that revision, so even a first deploy's rollback is recorded by image. */
  previousImage?: string;
  /** Set when the service runs a blue/green, linear or canary strategy: the service deployment to follow. */
  serviceDeployment?: StartedServiceDeployment;
}

export interface StartedServiceDeployment {
  arn: string;
  strategy: StagedStrategy;
  /** The service as UpdateService (or DescribeServices, on a retry) answered: its deployment configuration. */
  service: Service;
}

export async function describeService(
  ecs: ECSClient,
  target: EcsTarget,
  options: { withTags?: boolean } = {},
): Promise<Service> {
  const { services, failures } = await awsCall(`describing service ${target.service}`, () =>
    ecs.send(
      new DescribeServicesCommand({
        cluster: target.cluster,
        services: [target.service],
        ...(options.withTags && { include: ['TAGS'] }),
      }),
    ),
  );
  const service = services?.[0];
  if (service?.status !== 'ACTIVE') {
    const why = failures?.[0]?.reason ?? service?.status ?? 'not found';
    throw new DeployFailed(`ECS service ${target.cluster}/${target.service} is not usable: ${why}`);
  }
  return service as Service;
}

/** The tag that marks an ECS service Gantry may deploy; the stack's ecs:UpdateService grant requires it. */
export const managedServiceTag = { key: 'gantry:managed', value: 'true' } as const;

/**
 * Refuses a service that does not carry {@link managedServiceTag}. The stack only lets Gantry
 * describe and update services with that tag (condition `aws:ResourceTag/gantry:managed`), so an
 * untagged service can also answer AccessDeniedException here: both mean the tag is missing.
 */
export async function requireManagedService(ecs: ECSClient, target: EcsTarget): Promise<void> {
  const name = `${target.cluster}/${target.service}`;
  const fix = `add the tag ${managedServiceTag.key}=${managedServiceTag.value} to the service (aws ecs tag-resource) to let Gantry deploy it`;
  let service: Service;
  try {
    service = await describeService(ecs, target, { withTags: true });
  } catch (error) {
    if (hasErrorName(error, 'AccessDeniedException')) {
      throw new ServiceNotManaged(`Gantry may not describe ECS service ${name}: ${fix}`, { cause: error });
    }
    throw error;
  }
  const value = service.tags?.find((tag) => tag.key === managedServiceTag.key)?.value;
  if (value !== managedServiceTag.value) {
    const found = value === undefined ? 'has no such tag' : `has ${managedServiceTag.key}=${value}`;
    throw new ServiceNotManaged(`ECS service ${name} ${found}: ${fix}`);
  }
}

/**
 * Gantry deploys with UpdateService's task definition, which only services on the rolling update
 * (`ECS`) controller take: "For services using the blue/green (CODE_DEPLOY) deployment controller,
 * only the desired count, deployment configuration, … can be updated using this API", and an
 * external controller needs a new task set (ECS API model, UpdateService, in @aws-sdk/client-ecs).
 * Refused before anything is registered. A service without the field uses ECS, the default.
 */
function requireRollingUpdate(service: Service, target: EcsTarget): void {
  const controller = service.deploymentController?.type ?? 'ECS';
  if (controller === 'ECS') return;
  const how = controller === 'CODE_DEPLOY' ? 'a CodeDeploy deployment' : 'a new task set';
  throw new DeployFailed(
    `ECS service ${target.cluster}/${target.service} uses the ${controller} deployment controller: Gantry deploys only services on the rolling update (ECS) controller; this one changes its task definition through ${how}`,
  );
}

/** Tags Gantry puts on the revisions it registers, so a retried step can tell its own work. */
const executionTag = 'gantry:execution';
const previousTaskDefinitionTag = 'gantry:previous-task-definition';
const previousImageTag = 'gantry:previous-image';

/**
 * Registers a revision pinned to `image` (only the target container changes), then rolls it out.
 * Safe to retry: if the service already runs the revision this execution registered, that
 * deployment is returned with the rollback target recorded on the revision, not registered again.
 */
export async function deployImageToEcs(
  ecs: ECSClient,
  target: EcsTarget,
  image: string,
  executionArn: string,
): Promise<EcsDeployment> {
  return beforeTheChange(async () => {
    const service = await describeService(ecs, target);
    requireRollingUpdate(service, target);
    const currentArn = requireTaskDefinition(service, target);
    const { taskDefinition, tags = [] } = await describeCopyableTaskDefinition(ecs, currentArn);
    if (!taskDefinition) throw new DeployFailed(`task definition ${currentArn} not found`);
    const tag = (key: string) => tags.find((candidate) => candidate.key === key)?.value;
    const primary = service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
    if (tag(executionTag) === executionArn && primary?.id) {
      const previousImage = tag(previousImageTag);
      const serviceDeployment = startedServiceDeployment(service);
      return {
        ...(serviceDeployment && { serviceDeployment }),
        deploymentId: primary.id,
        taskDefinitionArn: currentArn,
        previousTaskDefinitionArn: tag(previousTaskDefinitionTag) ?? currentArn,
        ...(previousImage !== undefined && { previousImage }),
      };
    }
    const previousImage = taskDefinition.containerDefinitions?.find(
      (c) => c.name === target.container,
    )?.image;
    const ours = [
      { key: executionTag, value: executionArn },
      { key: previousTaskDefinitionTag, value: currentArn },
      ...(previousImage ? [{ key: previousImageTag, value: previousImage }] : []),
    ];
    const registered = await awsCall('registering the new task definition', () =>
      ecs.send(
        new RegisterTaskDefinitionCommand(
          withContainerImage(taskDefinition, tags, target.container, image, ours),
        ),
      ),
    );
    const taskDefinitionArn = registered.taskDefinition?.taskDefinitionArn;
    if (!taskDefinitionArn) throw new DeployFailed('RegisterTaskDefinition returned no ARN');
    return {
      ...(await updateService(ecs, target, taskDefinitionArn)),
      taskDefinitionArn,
      previousTaskDefinitionArn: currentArn,
      ...(previousImage !== undefined && { previousImage }),
    };
  });
}

/** Points the service at an existing revision: a rollback, or a redeploy of a recorded release. */
export async function deployTaskDefinitionToEcs(
  ecs: ECSClient,
  target: EcsTarget,
  taskDefinitionArn: string,
): Promise<EcsDeployment> {
  return beforeTheChange(async () => {
    const service = await describeService(ecs, target);
    requireRollingUpdate(service, target);
    const previousTaskDefinitionArn = requireTaskDefinition(service, target);
    return {
      ...(await updateService(ecs, target, taskDefinitionArn)),
      taskDefinitionArn,
      previousTaskDefinitionArn,
    };
  });
}

/**
 * Until UpdateService answers, nothing has changed: a final error there is `DeployFailed`, which
 * the state machine ends without a rollback. Transient errors stay retryable.
 */
async function beforeTheChange<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (
      error instanceof GantryError ||
      !(error instanceof Error) ||
      error instanceof ServiceChangedWithoutDeployment
    ) {
      throw error;
    }
    throw new DeployFailed(`ECS refused the change: ${error.name}: ${error.message}`, { cause: error });
  }
}

/**
 * UpdateService succeeded, so the service did change, but its answer named no deployment to
 * wait for. Not a Gantry error name on purpose: the state machine's catch-all sends it to Rollback.
 */
class ServiceChangedWithoutDeployment extends Error {
  override readonly name = 'ServiceChangedWithoutDeployment';
}

/** How long the Rollback step waits for ECS to start its own circuit-breaker rollback. */
export interface EcsRollbackPatience {
  /** Looks at the service this many times at most… */
  readonly polls: number;
  /**
   * …this far apart. polls × interval stays well inside the step's 30 s Lambda timeout
   * (serverless.yml `provider.timeout`); past it, the step's TransientAwsError retry waits longer.
   */
  readonly intervalMs: number;
  readonly sleep: (ms: number) => Promise<void>;
}

export const defaultEcsRollbackPatience: EcsRollbackPatience = {
  polls: 15,
  intervalMs: 1000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * The rollback deployment ECS's circuit breaker started after failing `failedDeploymentId`, when it
 * runs `taskDefinitionArn`; undefined when ECS will not roll back (nothing completed to go back to)
 * or went elsewhere, so Gantry puts the revision back itself. ECS starts its rollback after it
 * failed the deployment, not with it: while the failed deployment is still PRIMARY, Gantry waits
 * for ECS instead of starting a second rollback, and if ECS is still not there after `patience`,
 * it throws `TransientAwsError` so the state machine retries the step later, never doubling it.
 * ECS rolls back "to the last deployment that completed successfully" (ECS API model,
 * `DeploymentCircuitBreaker.rollback` in @aws-sdk/client-ecs;
 * https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentCircuitBreaker.html).
 */
export async function followEcsRollback(
  ecs: ECSClient,
  target: EcsTarget,
  failedDeploymentId: string,
  taskDefinitionArn: string,
  patience: EcsRollbackPatience = defaultEcsRollbackPatience,
): Promise<EcsDeployment | undefined> {
  for (let poll = 1; ; poll++) {
    const service = await describeService(ecs, target);
    const deployments = service.deployments ?? [];
    const primary = deployments.find((deployment) => deployment.status === 'PRIMARY');
    if (primary?.id && primary.id !== failedDeploymentId) {
      if (primary.taskDefinition !== taskDefinitionArn) return undefined;
      return { deploymentId: primary.id, taskDefinitionArn, previousTaskDefinitionArn: taskDefinitionArn };
    }
    const completed = deployments.some(
      (deployment) => deployment.id !== failedDeploymentId && deployment.rolloutState === 'COMPLETED',
    );
    if (!completed) return undefined;
    if (poll >= patience.polls) {
      throw new TransientAwsError(
        `ECS's circuit breaker failed deployment ${failedDeploymentId} of ${target.service} but has not started its rollback yet`,
      );
    }
    await patience.sleep(patience.intervalMs);
  }
}

/**
 * The service deployment a staged strategy's UpdateService started: the response's
 * `service.currentServiceDeployment` (ECS API model, `Service.currentServiceDeployment`). A rolling
 * service has none to follow, and a staged one without it cannot be followed: undefined for both,
 * the latter refused by the caller.
 */
function startedServiceDeployment(service: Service | undefined): StartedServiceDeployment | undefined {
  const strategy = service && stagedStrategyOf(service);
  if (!strategy || !service.currentServiceDeployment) return undefined;
  return { arn: service.currentServiceDeployment, strategy, service };
}

async function updateService(
  ecs: ECSClient,
  target: EcsTarget,
  taskDefinitionArn: string,
): Promise<{ deploymentId: string; serviceDeployment?: StartedServiceDeployment }> {
  const { service } = await awsCall(`updating service ${target.service}`, () =>
    ecs.send(
      new UpdateServiceCommand({
        cluster: target.cluster,
        service: target.service,
        taskDefinition: taskDefinitionArn,
      }),
    ),
  );
  const primary = service?.deployments?.find((deployment) => deployment.status === 'PRIMARY');
  if (!primary?.id) {
    throw new ServiceChangedWithoutDeployment(
      `UpdateService on ${target.service} returned no PRIMARY deployment`,
    );
  }
  const serviceDeployment = startedServiceDeployment(service);
  if (service && stagedStrategyOf(service) && !serviceDeployment) {
    throw new ServiceChangedWithoutDeployment(
      `UpdateService on ${target.service} (${service.deploymentConfiguration?.strategy}) named no currentServiceDeployment to follow`,
    );
  }
  return { deploymentId: primary.id, ...(serviceDeployment && { serviceDeployment }) };
}

function requireTaskDefinition(service: Service, target: EcsTarget): string {
  if (!service.taskDefinition) {
    throw new DeployFailed(`service ${target.cluster}/${target.service} has no task definition to copy`);
  }
  return service.taskDefinition;
}
