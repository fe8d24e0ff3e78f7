/**
 * The Gantry sandbox's loopback AWS emulator: a SIMULATOR of the AWS APIs Gantry calls (SSM, ECS,
 * ECR, DynamoDB, Step Functions hooks, EventBridge PutEvents), for local demos and tests. Real AWS SDK v3
 * clients talk to it over HTTP (`endpoint: emulator.url`). It answers anything it does not emulate
 * with a loud 400 (`UnsupportedOperation` / `UnsupportedParameter`), never a silent success.
 * See README.md in this folder for what is emulated and how faithfully.
 */
import type { AddressInfo } from 'node:net';
import { SimClock } from './clock.ts';
import { CloudWatchState } from './cloudwatch.ts';
import { DynamoDbState } from './dynamodb.ts';
import { EcrState } from './ecr.ts';
import { EcsState } from './ecs/index.ts';
import { EventHub, type EventListener, eventsService } from './events.ts';
import { LightsailState } from './lightsail.ts';
import { Authorization, type CallRecord, createEmulatorServer, Faults } from './server.ts';
import { SfnHooks } from './sfn.ts';
import { SqsState } from './sqs.ts';
import { SsmState } from './ssm.ts';
import { withParameterStoreEvents } from './ssm-events.ts';

export type { RealtimeOptions } from './clock.ts';
export { SimClock } from './clock.ts';
export type { CloudWatchState } from './cloudwatch.ts';
export type { AttributeValue, DynamoDbState, Item, TableDefinition } from './dynamodb.ts';
export type { EcrState, PushedImage } from './ecr.ts';
export type { CreateServiceInput, EcsState, Scenario, ScenarioName } from './ecs/index.ts';
export { circuitBreakerThreshold, parseImage } from './ecs/index.ts';
export type { AwsEvent, EventHub, EventListener } from './events.ts';
export type { InstanceHealth, LightsailInstanceState, LightsailState } from './lightsail.ts';
export type { Json, JsonObject, ServiceName } from './protocol.ts';
export type {
  Authorization,
  CallCheck,
  CallRecord,
  FaultSpec,
  Faults,
  InternalCall,
  StampedCall,
} from './server.ts';
export type { ExecutionDescription, SfnHandlers, SfnHooks } from './sfn.ts';
export { SFN_API_QUOTAS, SFN_ERROR_NAMES } from './sfn.ts';
export type { SqsState } from './sqs.ts';
export type { SsmState } from './ssm.ts';
export { SSM_THROUGHPUT } from './ssm.ts';

/** Options of {@link startEmulator}. */
export interface EmulatorOptions {
  /** Region written into ARNs and events (default `us-east-1`). */
  readonly region?: string;
  /** Account id written into ARNs and events (default `000000000000`). */
  readonly accountId?: string;
  /** Epoch milliseconds the simulated clock starts at (default: the wall clock at start). */
  readonly startTime?: number;
  /** Port to listen on, on 127.0.0.1 (default 0: any free port). */
  readonly port?: number;
  /**
   * AWS's default quotas (`on`, the default) on the simulated clock: Parameter Store's throughput
   * (see `SSM_THROUGHPUT`) and Step Functions' API throttling (`SFN_API_QUOTAS`). `off` only where a
   * test says why.
   */
  readonly quotas?: 'on' | 'off';
}

/** A running emulator. */
export interface Emulator {
  /** `http://127.0.0.1:<port>`: give it to SDK clients as `endpoint` (or `AWS_ENDPOINT_URL`). */
  readonly url: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  /** SDK v3 client configuration pointing at this emulator, with dummy credentials. */
  readonly clientConfig: {
    readonly endpoint: string;
    readonly region: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  };
  /** The simulated clock every rollout and event delivery runs on. */
  readonly clock: SimClock;
  /** Parameter Store state: seed and inspect without HTTP. */
  readonly ssm: SsmState;
  /** ECS state and the rollout simulator: `createService`, `setScenario`, `dropEvents`. */
  readonly ecs: EcsState;
  /** ECR images: `putImage`; the registry credentials GetAuthorizationToken returns: `setAuthorization`. */
  readonly ecr: EcrState;
  /** Lightsail instances and load balancers: `putInstance`, `setInstanceState`, `putLoadBalancer`, `setInstanceHealth`. */
  readonly lightsail: LightsailState;
  /** CloudWatch alarms the gates read: `setAlarm`. */
  readonly cloudwatch: CloudWatchState;
  /** DynamoDB tables: `createTable`, `items`, `getItem`, `putItem` (seeding/assertions without HTTP). */
  readonly dynamodb: DynamoDbState;
  /** SQS standard queues: `createQueue`, `depth`. */
  readonly sqs: SqsState;
  /** Step Functions calls are delegated to the local runner's hooks: `setHandlers`. */
  readonly sfn: SfnHooks;
  /** Every event delivered or dropped, and the dropped ones; `emit` puts an AWS service's own event (Step Functions' status changes, from the runner). */
  readonly events: Pick<EventHub, 'history' | 'dropped' | 'emit' | 'dropWhen' | 'createBus'>;
  /** Inject errors into the next matching calls. */
  readonly faults: Faults;
  /** Log of every API call, oldest first, secrets and task tokens redacted. */
  readonly calls: CallRecord[];
  /** Checks each call stamped with its caller before it runs (the sandbox installs IAM's check). */
  readonly authorization: Authorization;
  /**
   * Subscribes to every event: PutEvents entries and the simulated `aws.ecs` events, delivered as
   * EventBridge would to a rule target, when the clock next runs. Returns an unsubscribe function.
   */
  onEvent(listener: EventListener): () => void;
  /** Waits until listeners' promises have settled; rethrows a listener's failure. */
  settled(): Promise<void>;
  /** Stops the server (and any realtime clock started through it). */
  close(): Promise<void>;
}

/** Starts the emulator on 127.0.0.1. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  let hub: EventHub | undefined;
  const clock = new SimClock(options.startTime ?? Date.now(), async () => hub?.settle());
  hub = new EventHub(clock, region, accountId);
  const ssm = new SsmState(clock, region, accountId, { quotas: options.quotas ?? 'on' });
  const ecr = new EcrState(clock, region, accountId);
  const ecs = new EcsState(clock, hub, ecr, region, accountId);
  const lightsail = new LightsailState(clock, region, accountId);
  let url = '';
  const sqs = new SqsState(clock, accountId, () => url);
  const sfn = new SfnHooks();
  // Step Functions' API throttling on the simulated clock's nominal time, as Parameter Store's.
  if ((options.quotas ?? 'on') === 'on') sfn.useQuotas(region, () => clock.nominalNow());
  const dynamodb = new DynamoDbState(region, accountId);
  const cloudwatch = new CloudWatchState(clock, region, accountId);
  const faults = new Faults();
  const calls: CallRecord[] = [];
  const authorization = new Authorization();
  const server = createEmulatorServer({
    services: [
      withParameterStoreEvents(
        ssm.service(),
        hub,
        (name) => `arn:aws:ssm:${region}:${accountId}:parameter${name.startsWith('/') ? '' : '/'}${name}`,
      ),
      ecs.service(),
      ecr.service(),
      sqs.service(),
      sfn.service(),
      dynamodb.service(),
      eventsService(hub),
      lightsail.service(),
      cloudwatch.service(),
    ],
    faults,
    calls,
    authorization,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;
  const eventHub = hub;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    clientConfig: {
      endpoint: `http://127.0.0.1:${port}`,
      region,
      credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
    },
    region,
    accountId,
    clock,
    ssm,
    ecs,
    ecr,
    lightsail,
    cloudwatch,
    sqs,
    sfn,
    dynamodb,
    events: eventHub,
    faults,
    calls,
    authorization,
    onEvent: (listener: EventListener) => eventHub.on(listener),
    settled: () => eventHub.settle(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        clock.stopRealtime();
        sqs.close();
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}
