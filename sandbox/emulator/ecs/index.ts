import type { SimClock } from '../clock.ts';
import type { EcrState } from '../ecr.ts';
import type { AwsEvent, EventHub } from '../events.ts';
import type { JsonObject, ServiceDefinition } from '../protocol.ts';
import { ecsService } from './api.ts';
import { type CreateServiceInput, EcsModel, type Scenario, type UnmodeledFields } from './model.ts';
import { renderService, renderServiceDeployment } from './render.ts';
import { RolloutSimulator } from './rollout.ts';
import { type LambdaHookHandler, ServiceDeploymentSimulator } from './service-deployments.ts';
import { parseStrategyConfig } from './strategy-config.ts';

export type { CreateServiceInput, Scenario, ScenarioName, UnmodeledFields } from './model.ts';
export { parseImage } from './model.ts';
export { circuitBreakerThreshold } from './rollout.ts';
export type { LambdaHookHandler, LambdaHookResult } from './service-deployments.ts';
export { STAGE_MS, STAGE_TIMEOUT_MS } from './service-deployments.ts';
export { trafficSteps } from './strategy-config.ts';

/**
 * ECS in the emulator: the state (`model.ts`), the rollout simulator playing deployments out on
 * the clock (`rollout.ts`) and the API over them (`api.ts`). This class is the seeding and control
 * surface tests and the sandbox use.
 */
export class EcsState {
  readonly #model: EcsModel;
  readonly #rollouts: RolloutSimulator;
  readonly #deployments: ServiceDeploymentSimulator;
  readonly #hub: EventHub;

  constructor(clock: SimClock, hub: EventHub, ecr: EcrState, region: string, account: string) {
    this.#model = new EcsModel(clock, region, account);
    this.#rollouts = new RolloutSimulator(this.#model, hub, ecr);
    this.#deployments = new ServiceDeploymentSimulator(this.#model, this.#rollouts, hub);
    this.#hub = hub;
  }

  /**
   * Creates a service whose first deployment is already COMPLETED with `desiredCount` RUNNING tasks
   * (no events: the sandbox starts from a steady state). Creates the cluster if needed. With
   * `firstDeployment: 'inProgress'` (blue/green, linear, canary) the first service deployment starts
   * instead, and its ARN comes back as `serviceDeploymentArn`.
   */
  createService(input: CreateServiceInput): {
    serviceArn: string;
    taskDefinitionArn: string;
    deploymentId: string;
    serviceDeploymentArn?: string;
  } {
    if (input.firstDeployment === 'inProgress') {
      const strategy = input.deploymentConfiguration?.strategy;
      if (strategy === undefined || strategy === 'ROLLING') {
        throw new Error(
          'createService: firstDeployment inProgress needs a BLUE_GREEN, LINEAR or CANARY deploymentConfiguration',
        );
      }
    }
    // Checked before anything is created: bad input changes nothing.
    if (input.deploymentConfiguration !== undefined) {
      this.#deployments.checkRunnable(
        parseStrategyConfig(input.deploymentConfiguration, input.deploymentController ?? 'ECS'),
      );
    }
    const seeded = this.#rollouts.seedService(input);
    const result = {
      serviceArn: seeded.service.arn,
      taskDefinitionArn: seeded.taskDefinitionArn,
      deploymentId: seeded.deploymentId,
    };
    if (input.firstDeployment !== 'inProgress') return result;
    const record = this.#deployments.start(seeded.cluster, seeded.service, seeded.taskDefinitionArn);
    return { ...result, deploymentId: record.deployment.id, serviceDeploymentArn: record.arn };
  }

  /**
   * Blue/green, linear and canary: whether "ECS Deployment State Change" events are emitted
   * (default true). AWS documents these events only generically for these strategies, so Gantry must
   * work without them; tests run both ways.
   */
  setServiceDeploymentEvents(emit: boolean): void {
    this.#deployments.deploymentEvents = emit;
  }

  /**
   * Whether "ECS Hook State Change" events carry the service deployment ARN in `resources` (default
   * false: `resources: []`). AWS's two samples differ: the hook events page names the deployment,
   * the pause hooks page has no `resources`.
   */
  setHookEventResources(named: boolean): void {
    this.#deployments.hookEventResources = named;
  }

  /**
   * Stands in for the Lambda function of AWS_LAMBDA lifecycle hooks naming `functionArn`: the
   * emulator invokes no real function, and refuses hooks whose function has no stand-in.
   */
  setLambdaHook(functionArn: string, handler: LambdaHookHandler): void {
    this.#deployments.setLambdaHook(functionArn, handler);
  }

  /** A service deployment as DescribeServiceDeployments renders it (undefined if unknown). */
  describeServiceDeployment(arn: string): JsonObject | undefined {
    const record = this.#deployments.find(arn);
    return record === undefined ? undefined : renderServiceDeployment(record);
  }

  /**
   * Every status, stage and production weight a service deployment went through, with its simulated
   * time: for tests, demos and the bench (how many transitions a 10-step linear deploy takes).
   */
  serviceDeploymentHistory(
    arn: string,
  ): { at: number; status: string; lifecycleStage: string; productionWeight: number }[] {
    return (this.#deployments.find(arn)?.history ?? []).map((h) => ({ ...h }));
  }

  /**
   * Chooses what happens when a deployment runs `image`: key by image reference
   * (`web:v2`, `<registry>/web:v2`, `web@sha256:…`) or by digest (`sha256:…`). A tag is also matched
   * through the digest ECR resolves it to, so a scenario set on a digest follows its tags.
   */
  setScenario(image: string, scenario: Scenario): void {
    this.#rollouts.setScenario(image, scenario);
  }

  /** The scenario for images without one (default: healthy after 30 simulated seconds). */
  setDefaultScenario(scenario: Scenario): void {
    this.#rollouts.setDefaultScenario(scenario);
  }

  /**
   * Swallows ECS events matching `predicate` (they still appear in `emulator.events.dropped`), to
   * test what Gantry does when EventBridge loses one. Returns a function that stops dropping.
   */
  dropEvents(predicate: (event: AwsEvent) => boolean): () => void {
    return this.#hub.dropWhen((event) => event.source === 'aws.ecs' && predicate(event));
  }

  /**
   * Makes ListTasks lag behind events: a task that stopped less than `seconds` ago is still listed
   * under desired status RUNNING, not STOPPED, while its ECS Task State Change event is already out
   * and DescribeTasks already shows it stopped. 0 (the default) turns the lag off. AWS promises no
   * better: "The Amazon ECS API follows an eventual consistency model" (RunTask, ECS API model in
   * @aws-sdk/client-ecs).
   */
  setListTasksLag(seconds: number): void {
    this.#model.listTasksLagMs = seconds * 1000;
  }

  /**
   * Makes every task definition come back with `fields` the bundled SDK does not model, as ECS
   * would after launching a feature newer than the SDK: the SDK drops them when it deserializes.
   * `{}` turns this off.
   */
  setUnmodeledFields(fields: UnmodeledFields): void {
    this.#model.unmodeledFields = fields;
  }

  /** A service as DescribeServices renders it, for assertions and progress displays. */
  describeService(cluster: string, service: string): JsonObject {
    const found = this.#model.service(this.#model.cluster(cluster), service);
    return renderService(this.#model, found, false);
  }

  service(): ServiceDefinition {
    return ecsService(this.#model, this.#rollouts, this.#deployments);
  }
}
