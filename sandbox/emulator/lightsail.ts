/**
 * Lightsail as the swarm target uses it (JSON 1.1, `X-Amz-Target: Lightsail_20161128.<Op>`):
 * `GetInstances` to find an app/env's hosts by tag and check they run, `GetLoadBalancer` for the
 * optional health gate on `instanceHealthSummary`. Instances and load balancers are seeded and
 * changed by tests and demos (Lightsail sends no events, so nothing changes by itself).
 *
 * Shapes: Lightsail API reference (2016-11-28), `GetInstances`, `GetLoadBalancer`, `Instance`,
 * `InstanceState`, `LoadBalancer`, `InstanceHealthSummary`, as modelled by
 * `@aws-sdk/client-lightsail` (`dist-types/models/models_0.d.ts`, `models_1.d.ts`, `enums.d.ts`).
 * moto (5.2.1) does not implement Lightsail, so there is no differential check: unit tests in
 * `test/sandbox/emulator-lightsail.test.ts` hold these rules instead.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { SimClock } from './clock.ts';
import {
  AwsError,
  epochSeconds,
  type JsonObject,
  type Params,
  type ServiceDefinition,
  UnsupportedParameter,
} from './protocol.ts';

/**
 * Instance states and their codes. The Lightsail reference (`InstanceState`) names `running` and
 * `pending` and documents no codes; the emulator borrows EC2's (EC2 API reference,
 * `InstanceState`: 0 pending, 16 running, 32 shutting-down, 48 terminated, 64 stopping,
 * 80 stopped), an assumption: code that judges an instance should read `state.name`.
 */
export const lightsailInstanceStates = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
} as const;
export type LightsailInstanceState = keyof typeof lightsailInstanceStates;

/**
 * `instanceHealth` values (`InstanceHealthState` enum) and the `instanceHealthReason` each may carry
 * (the `InstanceHealthSummary.instanceHealthReason` documentation): none when healthy.
 */
export const instanceHealthReasons = {
  healthy: [],
  initial: ['Lb.RegistrationInProgress', 'Lb.InitialHealthChecking'],
  unhealthy: [
    'Instance.ResponseCodeMismatch',
    'Instance.Timeout',
    'Instance.FailedHealthChecks',
    'Lb.InternalError',
  ],
  unused: ['Instance.NotRegistered', 'Instance.NotInUse', 'Instance.IpUnusable', 'Instance.InvalidState'],
  draining: ['Instance.DeregistrationInProgress'],
  unavailable: [],
} as const satisfies Record<string, readonly string[]>;
export type InstanceHealth = keyof typeof instanceHealthReasons;

/** Seeding input of {@link LightsailState.putInstance}. */
export interface SeedInstance {
  readonly name: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Default `running`. */
  readonly state?: LightsailInstanceState;
  readonly blueprintId?: string;
  readonly bundleId?: string;
}

/** Seeding input of {@link LightsailState.putLoadBalancer}. */
export interface SeedLoadBalancer {
  readonly name: string;
  readonly instancePort?: number;
  readonly healthCheckPath?: string;
  /** Attached instances and their health (default `healthy`). */
  readonly instances?: readonly {
    readonly name: string;
    readonly health?: InstanceHealth;
    readonly reason?: string;
  }[];
  readonly tags?: Readonly<Record<string, string>>;
}

interface InstanceRecord {
  readonly name: string;
  readonly arn: string;
  readonly createdAt: number;
  readonly supportCode: string;
  readonly blueprintId: string;
  readonly bundleId: string;
  readonly privateIp: string;
  readonly publicIp: string;
  tags: Record<string, string>;
  state: LightsailInstanceState;
}

interface HealthRecord {
  health: InstanceHealth;
  reason: string | undefined;
}

interface LoadBalancerRecord {
  readonly name: string;
  readonly arn: string;
  readonly createdAt: number;
  readonly supportCode: string;
  readonly instancePort: number;
  readonly healthCheckPath: string;
  readonly tags: Record<string, string>;
  readonly instances: Map<string, HealthRecord>;
}

/** Default for a health state that needs a reason: the first the reference lists. */
function checkedReason(health: InstanceHealth, reason: string | undefined): string | undefined {
  const allowed: readonly string[] = instanceHealthReasons[health];
  if (allowed === undefined)
    throw new Error(`Lightsail emulator: '${health}' is not an instance health state`);
  if (reason === undefined) return allowed[0];
  if (!allowed.includes(reason)) {
    throw new Error(
      `Lightsail emulator: instanceHealthReason '${reason}' does not go with '${health}' (allowed: ${allowed.join(', ') || 'none'})`,
    );
  }
  return reason;
}

export class LightsailState {
  readonly #instances = new Map<string, InstanceRecord>();
  readonly #loadBalancers = new Map<string, LoadBalancerRecord>();
  readonly #clock: SimClock;
  readonly #region: string;
  readonly #account: string;
  /**
   * GetInstances page size. AWS does not document one; a small default makes callers that ignore
   * `nextPageToken` fail in tests instead of in production.
   */
  #pageSize = 5;

  constructor(clock: SimClock, region: string, account: string) {
    this.#clock = clock;
    this.#region = region;
    this.#account = account;
  }

  /** Seeds (or replaces) an instance. */
  putInstance(seed: SeedInstance): void {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{1,254}$/.test(seed.name)) {
      throw new Error(`Lightsail emulator: '${seed.name}' is not a Lightsail resource name`);
    }
    const index = this.#instances.size + 1;
    this.#instances.set(seed.name, {
      name: seed.name,
      arn: `arn:aws:lightsail:${this.#region}:${this.#account}:Instance/${randomUUID()}`,
      createdAt: this.#clock.now(),
      supportCode: `${this.#account}/i-${createHash('sha256').update(seed.name).digest('hex').slice(0, 17)}`,
      blueprintId: seed.blueprintId ?? 'ubuntu_22_04',
      bundleId: seed.bundleId ?? 'small_3_0',
      privateIp: `172.26.${Math.floor(index / 250)}.${(index % 250) + 2}`,
      // Documentation addresses (RFC 5737), never a real host.
      publicIp: `192.0.2.${(index % 250) + 1}`,
      tags: { ...seed.tags },
      state: this.#checkState(seed.state ?? 'running'),
    });
  }

  /** Moves an instance to another state (`stopped`, `pending`, …). */
  setInstanceState(name: string, state: LightsailInstanceState): void {
    this.#instance(name).state = this.#checkState(state);
  }

  /** Replaces an instance's tags. */
  setInstanceTags(name: string, tags: Readonly<Record<string, string>>): void {
    this.#instance(name).tags = { ...tags };
  }

  removeInstance(name: string): void {
    this.#instance(name);
    this.#instances.delete(name);
  }

  /** Seeds (or replaces) a load balancer with its attached instances. */
  putLoadBalancer(seed: SeedLoadBalancer): void {
    const instances = new Map<string, HealthRecord>();
    for (const attached of seed.instances ?? []) {
      const health = attached.health ?? 'healthy';
      instances.set(attached.name, { health, reason: checkedReason(health, attached.reason) });
    }
    this.#loadBalancers.set(seed.name, {
      name: seed.name,
      arn: `arn:aws:lightsail:${this.#region}:${this.#account}:LoadBalancer/${randomUUID()}`,
      createdAt: this.#clock.now(),
      supportCode: `${this.#account}/arn:aws:elasticloadbalancing:${this.#region}:${this.#account}:loadbalancer/app/${seed.name}`,
      instancePort: seed.instancePort ?? 80,
      healthCheckPath: seed.healthCheckPath ?? '/',
      tags: { ...seed.tags },
      instances,
    });
  }

  /** Changes what the load balancer's health checks say of one attached instance. */
  setInstanceHealth(loadBalancer: string, instance: string, health: InstanceHealth, reason?: string): void {
    const balancer = this.#loadBalancers.get(loadBalancer);
    const record = balancer?.instances.get(instance);
    if (record === undefined) {
      throw new Error(`Lightsail emulator: no instance '${instance}' on load balancer '${loadBalancer}'`);
    }
    record.health = health;
    record.reason = checkedReason(health, reason);
  }

  /** GetInstances page size (default 5). */
  setPageSize(size: number): void {
    if (!Number.isInteger(size) || size < 1) throw new Error('Lightsail emulator: page size must be >= 1');
    this.#pageSize = size;
  }

  #checkState(state: string): LightsailInstanceState {
    if (!(state in lightsailInstanceStates))
      throw new Error(`Lightsail emulator: unknown instance state '${state}'`);
    return state as LightsailInstanceState;
  }

  #instance(name: string): InstanceRecord {
    const instance = this.#instances.get(name);
    if (instance === undefined) throw new Error(`Lightsail emulator: no instance '${name}'`);
    return instance;
  }

  #tags(tags: Record<string, string>): JsonObject[] {
    return Object.entries(tags).map(([key, value]) => ({ key, value }));
  }

  #renderInstance(i: InstanceRecord): JsonObject {
    const running = i.state === 'running';
    return {
      name: i.name,
      arn: i.arn,
      supportCode: i.supportCode,
      createdAt: epochSeconds(i.createdAt),
      location: { availabilityZone: `${this.#region}a`, regionName: this.#region },
      resourceType: 'Instance',
      tags: this.#tags(i.tags),
      blueprintId: i.blueprintId,
      blueprintName: 'Ubuntu',
      bundleId: i.bundleId,
      isStaticIp: false,
      privateIpAddress: i.privateIp,
      // Without a static IP, a stopped instance has no public address.
      ...(running ? { publicIpAddress: i.publicIp } : {}),
      ipAddressType: 'ipv4',
      hardware: { cpuCount: 2, ramSizeInGb: 2 },
      state: { code: lightsailInstanceStates[i.state], name: i.state },
      username: 'ubuntu',
      sshKeyName: 'LightsailDefaultKeyPair',
    };
  }

  #pageToken(offset: number): string {
    return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64');
  }

  #offset(p: Params, token: string): number {
    try {
      const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset?: unknown };
      if (typeof parsed.offset === 'number' && Number.isInteger(parsed.offset) && parsed.offset > 0) {
        return parsed.offset;
      }
    } catch {
      // falls through to the refusal below
    }
    throw p.invalid('pageToken is not a token this emulator issued');
  }

  service(): ServiceDefinition {
    return {
      name: 'lightsail',
      targetPrefix: 'Lightsail_20161128',
      // Lightsail's error for input that breaks a field's rules (errors.d.ts `InvalidInputException`).
      validationError: 'InvalidInputException',
      operations: {
        GetInstances: {
          keys: ['pageToken', 'includeHealthStatus'],
          handle: (p: Params) => {
            if (p.boolean('includeHealthStatus') === true) {
              throw new UnsupportedParameter(
                'lightsail GetInstances: includeHealthStatus (instanceStatus/systemStatus) is not emulated by the Gantry sandbox',
              );
            }
            const token = p.string('pageToken');
            const offset = token === undefined || token === '' ? 0 : this.#offset(p, token);
            const all = [...this.#instances.values()].sort((a, b) => a.createdAt - b.createdAt);
            const page = all.slice(offset, offset + this.#pageSize);
            const next = offset + this.#pageSize;
            return {
              instances: page.map((i) => this.#renderInstance(i)),
              // "A next page token is not returned if there are no more results to display."
              ...(next < all.length ? { nextPageToken: this.#pageToken(next) } : {}),
            };
          },
        },
        GetLoadBalancer: {
          keys: ['loadBalancerName'],
          handle: (p: Params) => {
            const name = p.requiredString('loadBalancerName');
            const balancer = this.#loadBalancers.get(name);
            if (balancer === undefined) {
              throw new AwsError('NotFoundException', `The LoadBalancer does not exist: ${name}`);
            }
            return {
              loadBalancer: {
                name: balancer.name,
                arn: balancer.arn,
                supportCode: balancer.supportCode,
                createdAt: epochSeconds(balancer.createdAt),
                location: { availabilityZone: 'all', regionName: this.#region },
                resourceType: 'LoadBalancer',
                tags: this.#tags(balancer.tags),
                dnsName: `${createHash('sha256').update(balancer.arn).digest('hex').slice(0, 32)}-${balancer.name}.${this.#region}.elb.amazonaws.com`,
                state: 'active',
                protocol: 'HTTP',
                publicPorts: [80],
                healthCheckPath: balancer.healthCheckPath,
                instancePort: balancer.instancePort,
                instanceHealthSummary: [...balancer.instances.entries()].map(([instanceName, record]) => ({
                  instanceName,
                  instanceHealth: record.health,
                  ...(record.reason === undefined ? {} : { instanceHealthReason: record.reason }),
                })),
                tlsCertificateSummaries: [],
                configurationOptions: {
                  SessionStickinessEnabled: 'false',
                  SessionStickiness_LB_CookieDurationSeconds: '86400',
                },
                ipAddressType: 'dualstack',
                httpsRedirectionEnabled: false,
              },
            };
          },
        },
      },
    };
  }
}
