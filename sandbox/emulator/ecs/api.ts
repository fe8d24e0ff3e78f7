import {
  AwsError,
  compact,
  isObject,
  type JsonObject,
  type Params,
  type ServiceDefinition,
  UnsupportedParameter,
} from '../protocol.ts';
import { type EcsModel, isTag, serviceName, TASK_DEFINITION_KEYS, type Tag, taskId } from './model.ts';
import {
  renderService,
  renderServiceDeployment,
  renderServiceDeploymentBrief,
  renderTask,
  renderTaskDefinition,
} from './render.ts';
import type { RolloutSimulator } from './rollout.ts';
import type { ServiceDeploymentSimulator } from './service-deployments.ts';
import { parseStrategyConfig } from './strategy-config.ts';

/** The ECS operations Gantry calls, over the JSON 1.1 protocol. */
export function ecsService(
  model: EcsModel,
  rollouts: RolloutSimulator,
  deployments: ServiceDeploymentSimulator,
): ServiceDefinition {
  return {
    name: 'ecs',
    targetPrefix: 'AmazonEC2ContainerServiceV20141113',
    validationError: 'InvalidParameterException',
    operations: {
      DescribeServices: {
        keys: ['cluster', 'services', 'include'],
        handle: (p: Params) => {
          const cluster = model.cluster(p.string('cluster'));
          const refs = p.stringArray('services') ?? [];
          if (refs.length === 0 || refs.length > 10) throw p.invalid('services must name 1 to 10 services');
          const withTags = includes(p, 'TAGS');
          const services: JsonObject[] = [];
          const failures: JsonObject[] = [];
          for (const ref of refs) {
            const service = cluster.services.get(serviceName(ref));
            if (service === undefined) {
              failures.push({
                arn: ref.startsWith('arn:')
                  ? ref
                  : `arn:aws:ecs:${model.region}:${model.account}:service/${cluster.name}/${ref}`,
                reason: 'MISSING',
              });
            } else {
              services.push(renderService(model, service, withTags));
            }
          }
          return { services, failures };
        },
      },
      DescribeTaskDefinition: {
        keys: ['taskDefinition', 'include'],
        handle: (p: Params) => {
          const td = model.findTaskDefinition(p.requiredString('taskDefinition'));
          if (td === undefined) throw new AwsError('ClientException', 'Unable to describe task definition.');
          return compact({
            taskDefinition: renderTaskDefinition(model, td),
            tags: includes(p, 'TAGS') ? model.tagsOf(td.arn) : undefined,
          });
        },
      },
      RegisterTaskDefinition: {
        keys: TASK_DEFINITION_KEYS,
        handle: (p: Params) => {
          const td = model.register(p.raw);
          return compact({
            taskDefinition: renderTaskDefinition(model, td),
            tags: p.has('tags') ? model.tagsOf(td.arn) : undefined,
          });
        },
      },
      UpdateService: {
        keys: [
          'cluster',
          'service',
          'taskDefinition',
          'forceNewDeployment',
          'desiredCount',
          'deploymentConfiguration',
        ],
        handle: (p: Params) => {
          const cluster = model.cluster(p.string('cluster'));
          const service = model.service(cluster, p.requiredString('service'));
          // Checked before anything changes: bad input changes nothing.
          const config = p.has('deploymentConfiguration')
            ? parseStrategyConfig(p.raw.deploymentConfiguration ?? null, service.deploymentController)
            : service.deploymentConfiguration;
          deployments.checkRunnable(config);
          const inFlight = service.serviceDeployments.some((d) =>
            ['PENDING', 'IN_PROGRESS', 'ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS'].includes(d.status),
          );
          if (config.strategy === 'ROLLING' && inFlight) {
            throw new UnsupportedParameter(
              'UpdateService: switching to ROLLING during a blue/green, linear or canary deployment is not simulated',
            );
          }
          const ref = p.string('taskDefinition');
          const td = ref === undefined ? undefined : model.findTaskDefinition(ref);
          if (ref !== undefined && td === undefined) {
            throw new AwsError('ClientException', 'TaskDefinition not found.');
          }
          // UpdateService's documentation (ECS API model): only ECS-controlled services take a new
          // task definition; CODE_DEPLOY needs a CodeDeploy deployment, EXTERNAL a new task set.
          // AWS's CODE_DEPLOY answer, as quoted in fabfuel/ecs-deploy#175.
          if (td !== undefined && service.deploymentController !== 'ECS') {
            const next =
              service.deploymentController === 'CODE_DEPLOY'
                ? 'Use AWS CodeDeploy to trigger a new deployment.'
                : 'Create a new task set.';
            throw new AwsError(
              'InvalidParameterException',
              `Unable to update task definition on services with a ${service.deploymentController} deployment controller. ${next}`,
            );
          }
          const target = td?.arn ?? service.taskDefinitionArn;
          const deploy = target !== service.taskDefinitionArn || p.boolean('forceNewDeployment') === true;
          const desiredCount = p.number('desiredCount');
          if (desiredCount !== undefined && !deploy && desiredCount !== service.desiredCount) {
            throw new UnsupportedParameter(
              'UpdateService: scaling (desiredCount) without a new deployment is not simulated',
            );
          }
          if (desiredCount !== undefined) {
            if (!Number.isInteger(desiredCount) || desiredCount < 0)
              throw p.invalid('desiredCount must be >= 0');
            service.desiredCount = desiredCount;
          }
          service.deploymentConfiguration = config;
          if (deploy) {
            if (config.strategy === 'ROLLING') rollouts.startDeployment(cluster, service, target);
            else deployments.start(cluster, service, target);
          }
          return { service: renderService(model, service, false) };
        },
      },
      DescribeServiceDeployments: {
        keys: ['serviceDeploymentArns'],
        handle: (p: Params) => {
          const arns = p.stringArray('serviceDeploymentArns') ?? [];
          // DescribeServiceDeploymentsRequest: "You can specify a maximum of 20 ARNs."
          if (arns.length === 0 || arns.length > 20)
            throw p.invalid('serviceDeploymentArns must name 1 to 20 ARNs');
          const serviceDeployments: JsonObject[] = [];
          const failures: JsonObject[] = [];
          for (const arn of arns) {
            const record = deployments.find(arn);
            if (record === undefined) failures.push({ arn, reason: 'MISSING' });
            else serviceDeployments.push(renderServiceDeployment(record));
          }
          return { serviceDeployments, failures };
        },
      },
      ListServiceDeployments: {
        keys: ['service', 'cluster', 'status', 'createdAt', 'nextToken', 'maxResults'],
        handle: (p: Params) => {
          const cluster = model.cluster(p.string('cluster'));
          const service = model.service(cluster, p.requiredString('service'));
          if (
            service.deploymentConfiguration.strategy === 'ROLLING' &&
            service.serviceDeployments.length === 0
          ) {
            throw new UnsupportedParameter(
              'ListServiceDeployments: service deployments of ROLLING services are not emulated by the Gantry sandbox',
            );
          }
          const statuses = p.stringArray('status');
          const created = p.raw.createdAt;
          let after = Number.NEGATIVE_INFINITY;
          let before = Number.POSITIVE_INFINITY;
          if (created !== undefined && created !== null) {
            if (!isObject(created)) throw p.invalid("'createdAt' must be an object");
            if (typeof created.after === 'number') after = created.after * 1000;
            if (typeof created.before === 'number') before = created.before * 1000;
          }
          // Newest first: the order is not documented.
          const records = [...service.serviceDeployments]
            .reverse()
            .filter(
              (d) =>
                (statuses === undefined || statuses.includes(d.status)) &&
                d.createdAt >= after &&
                d.createdAt <= before,
            );
          // ListServiceDeploymentsRequest.maxResults: 1 to 100, 20 by default.
          const size = p.number('maxResults') ?? 20;
          if (!Number.isInteger(size) || size < 1 || size > 100)
            throw p.invalid('maxResults must be 1 to 100');
          const start = offsetOf(p);
          const end = start + size;
          return compact({
            serviceDeployments: records.slice(start, end).map(renderServiceDeploymentBrief),
            nextToken: end < records.length ? tokenOf(end) : undefined,
          });
        },
      },
      ContinueServiceDeployment: {
        keys: ['serviceDeploymentArn', 'hookId', 'action'],
        handle: (p: Params) => {
          // ContinueServiceDeploymentRequest.action: "If no value is specified, the default action is CONTINUE."
          const action = p.string('action') ?? 'CONTINUE';
          if (action !== 'CONTINUE' && action !== 'ROLLBACK')
            throw p.invalid(`action '${action}' is not CONTINUE or ROLLBACK`);
          const arn = deployments.continueDeployment(
            p.requiredString('serviceDeploymentArn'),
            p.requiredString('hookId'),
            action,
          );
          return { serviceDeploymentArn: arn };
        },
      },
      StopServiceDeployment: {
        keys: ['serviceDeploymentArn', 'stopType'],
        handle: (p: Params) => {
          // "The valid values are ROLLBACK": the default when none is given is not documented; ROLLBACK here.
          const stopType = p.string('stopType') ?? 'ROLLBACK';
          const arn = deployments.stopDeployment(p.requiredString('serviceDeploymentArn'), stopType);
          return { serviceDeploymentArn: arn };
        },
      },
      ListTasks: {
        keys: ['cluster', 'serviceName', 'startedBy', 'desiredStatus', 'maxResults', 'nextToken'],
        handle: (p: Params) => {
          const cluster = model.cluster(p.string('cluster'));
          const service = p.string('serviceName');
          if (service !== undefined) model.service(cluster, service);
          const startedBy = p.string('startedBy');
          const desired = p.string('desiredStatus') ?? 'RUNNING';
          if (!['RUNNING', 'PENDING', 'STOPPED'].includes(desired)) {
            throw p.invalid(`desiredStatus '${desired}' is not RUNNING, PENDING or STOPPED`);
          }
          model.pruneStopped(cluster);
          const arns = [...cluster.tasks.values()]
            .filter(
              (t) =>
                model.listedStatus(t) === desired &&
                (service === undefined || t.serviceName === service.replace(/^.*\//, '')) &&
                (startedBy === undefined || t.deploymentId === startedBy),
            )
            .map((t) => t.arn);
          const size = p.number('maxResults') ?? 100;
          if (!Number.isInteger(size) || size < 1 || size > 100)
            throw p.invalid('maxResults must be 1 to 100');
          const start = offsetOf(p);
          const end = start + size;
          return compact({
            taskArns: arns.slice(start, end),
            nextToken: end < arns.length ? tokenOf(end) : undefined,
          });
        },
      },
      DescribeTasks: {
        keys: ['cluster', 'tasks', 'include'],
        handle: (p: Params) => {
          const cluster = model.cluster(p.string('cluster'));
          const refs = p.stringArray('tasks') ?? [];
          if (refs.length === 0 || refs.length > 100) throw p.invalid('tasks must name 1 to 100 tasks');
          if (includes(p, 'TAGS'))
            throw new UnsupportedParameter('DescribeTasks: include TAGS is not emulated');
          const tasks: JsonObject[] = [];
          const failures: JsonObject[] = [];
          for (const ref of refs) {
            const task =
              cluster.tasks.get(ref) ?? [...cluster.tasks.values()].find((t) => taskId(t.arn) === ref);
            if (task === undefined) failures.push({ arn: ref, reason: 'MISSING' });
            else tasks.push(renderTask(model, task, 'api'));
          }
          return { tasks, failures };
        },
      },
      TagResource: {
        keys: ['resourceArn', 'tags'],
        handle: (p: Params) => {
          const arn = p.requiredString('resourceArn');
          const tags = p.objectArray('tags', ['key', 'value']) ?? [];
          if (!tags.every(isTag)) throw p.invalid('tags must be a list of {key, value}');
          if (!model.resourceExists(arn)) {
            throw new AwsError('ResourceNotFoundException', `The specified resource ${arn} is not found.`);
          }
          model.addTags(arn, tags as Tag[]);
          return {};
        },
      },
    },
  };
}

/** Pagination tokens are opaque to callers: an offset, base64url-encoded. */
function offsetOf(p: Params): number {
  const token = p.string('nextToken');
  const start = token === undefined ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isInteger(start) || start < 0) throw p.invalid('nextToken is not valid');
  return start;
}

function tokenOf(offset: number): string {
  return Buffer.from(String(offset)).toString('base64url');
}

function includes(p: Params, value: string): boolean {
  const include = p.stringArray('include') ?? [];
  for (const item of include) {
    if (item !== 'TAGS') throw new UnsupportedParameter(`include '${item}' is not emulated (TAGS only)`);
  }
  return include.includes(value);
}
