import type { SimClock } from '../clock.ts';
import type { EcrState } from '../ecr.ts';
import type { AwsEvent, EventHub } from '../events.ts';
import type { JsonObject, ServiceDefinition } from '../protocol.ts';
import { ecsService } from './api.ts';
import { type CreateServiceInput, EcsModel, type Scenario, type UnmodeledFields } from './model.ts';
import { renderService } from './render.ts';
import { RolloutSimulator } from './rollout.ts';

export type { CreateServiceInput, Scenario, ScenarioName, UnmodeledFields } from './model.ts';
export { parseImage } from './model.ts';
export { circuitBreakerThreshold } from './rollout.ts';

/**
 * ECS in the emulator: the state (`model.ts`), the rollout simulator playing deployments out on
 * the clock (`rollout.ts`) and the API over them (`api.ts`). This class is the seeding and control
 * surface tests and the sandbox use.
 */
export class EcsState {
  readonly #model: EcsModel;
  readonly #rollouts: RolloutSimulator;
  readonly #hub: EventHub;

  constructor(clock: SimClock, hub: EventHub, ecr: EcrState, region: string, account: string) {
    this.#model = new EcsModel(clock, region, account);
    this.#rollouts = new RolloutSimulator(this.#model, hub, ecr);
    this.#hub = hub;
  }

  /**
   * Creates a service whose first deployment is already COMPLETED with `desiredCount` RUNNING tasks
   * (no events: the sandbox starts from a steady state). Creates the cluster if needed.
   */
  createService(input: CreateServiceInput): {
    serviceArn: string;
    taskDefinitionArn: string;
    deploymentId: string;
  } {
    return this.#rollouts.seedService(input);
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
    return ecsService(this.#model, this.#rollouts);
  }
}
