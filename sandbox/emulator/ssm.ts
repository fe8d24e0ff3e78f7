import { createHash } from 'node:crypto';
import type { SimClock } from './clock.ts';
import {
  AwsError,
  compact,
  epochSeconds,
  type JsonObject,
  type Params,
  REDACTED,
  type ServiceDefinition,
  UnsupportedParameter,
} from './protocol.ts';

type ParameterType = 'String' | 'SecureString';

/** Versions Parameter Store keeps per parameter. */
const MAX_VERSIONS = 100;

interface ParameterVersion {
  readonly version: number;
  readonly value: string;
  readonly type: ParameterType;
  readonly description: string | undefined;
  readonly tier: string;
  readonly modifiedAt: number;
  readonly labels: string[];
}

/**
 * Parameter Store's default throughput, in transactions per second, account- and region-wide.
 *
 * - Reads: "Max throughput (transactions per second)", default throughput 40, shared by
 *   GetParameter, GetParameters and GetParametersByPath (AWS Systems Manager endpoints and quotas,
 *   https://docs.aws.amazon.com/general/latest/gr/ssm.html; the higher-throughput setting, which
 *   the emulator does not model, is described at
 *   https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-throughput.html).
 * - PutParameter is not in AWS's quota table. AWS Support quoted 3 TPS at standard throughput and
 *   10 with higher throughput (github-aws-runners/terraform-aws-github-runner#2944).
 *
 * A throttled call is answered as AWS answers it: HTTP 400 `ThrottlingException`, "Rate exceeded"
 * (https://aws.amazon.com/premiumsupport/knowledge-center/ssm-parameter-store-rate-exceeded/), which
 * the SDK retries with backoff. Other operations are not throttled by the emulator.
 */
export const SSM_THROUGHPUT = { reads: 40, writes: 3 } as const;

/** Options of {@link SsmState}. */
export interface SsmOptions {
  /** `on` (default): the throughput quotas above apply on the simulated clock. */
  readonly quotas?: 'on' | 'off';
}

/**
 * A token bucket on the simulated clock: `perSecond` tokens a second, at most one second's worth
 * banked. AWS does not document a burst allowance for Parameter Store, so none is granted.
 */
class ThroughputQuota {
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(perSecond: number, now: () => number) {
    this.#perSecond = perSecond;
    this.#now = now;
    this.#tokens = perSecond;
    this.#at = now();
  }

  /** Takes one token, or says the call must be throttled (a throttled call takes none). */
  take(): boolean {
    const now = this.#now();
    const elapsedMs = Math.max(0, now - this.#at);
    this.#at = Math.max(this.#at, now);
    this.#tokens = Math.min(this.#perSecond, this.#tokens + (elapsedMs / 1000) * this.#perSecond);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Parameter Store as Gantry uses it: String and SecureString parameters, versions, labels, quotas. */
export class SsmState {
  readonly #parameters = new Map<string, ParameterVersion[]>();
  readonly #clock: SimClock;
  readonly #region: string;
  readonly #account: string;
  #quotas: { readonly reads: ThroughputQuota; readonly writes: ThroughputQuota } | undefined;

  constructor(clock: SimClock, region: string, account: string, options: SsmOptions = {}) {
    this.#clock = clock;
    this.#region = region;
    this.#account = account;
    this.useQuotas(options.quotas ?? 'on');
  }

  /** Turns the throughput quotas on (full buckets) or off, for a test that says why. */
  useQuotas(mode: 'on' | 'off'): void {
    // The clock's nominal time keeps moving while a listener holds it (a Lambda on an event, whose
    // SDK is backing off after a throttle): on the held time alone its retries could never succeed.
    const now = () => this.#clock.nominalNow();
    this.#quotas =
      mode === 'off'
        ? undefined
        : {
            reads: new ThroughputQuota(SSM_THROUGHPUT.reads, now),
            writes: new ThroughputQuota(SSM_THROUGHPUT.writes, now),
          };
  }

  #throttle(quota: 'reads' | 'writes'): void {
    if (this.#quotas !== undefined && !this.#quotas[quota].take()) {
      throw new AwsError('ThrottlingException', 'Rate exceeded');
    }
  }

  /** Seeds or overwrites a parameter without going through HTTP (demos, test setup). */
  put(name: string, value: string, options: { type?: ParameterType; description?: string } = {}): number {
    return this.#put({
      name,
      value,
      type: options.type ?? 'String',
      description: options.description,
      overwrite: true,
    });
  }

  /** The current value, or undefined: for assertions. */
  get(name: string): string | undefined {
    return this.#parameters.get(name)?.at(-1)?.value;
  }

  /** All current parameter names, sorted: for assertions. */
  names(): string[] {
    return [...this.#parameters.keys()].sort();
  }

  #put(input: {
    name: string;
    value: string;
    type: ParameterType | undefined;
    description: string | undefined;
    overwrite: boolean;
    tier?: string;
  }): number {
    checkName(input.name);
    if (input.value === '') throw new AwsError('ValidationException', 'Parameter value must not be empty');
    const versions = this.#parameters.get(input.name);
    const current = versions?.at(-1);
    if (current !== undefined && !input.overwrite) {
      throw new AwsError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    if (current === undefined && input.type === undefined) {
      throw new AwsError('ValidationException', 'A parameter type is required when you create a parameter.');
    }
    const tier = input.tier ?? current?.tier ?? 'Standard';
    const limit = tier === 'Advanced' ? 8192 : 4096;
    if (Buffer.byteLength(input.value) > limit) {
      throw new AwsError(
        'ValidationException',
        `Parameter value exceeds the ${limit}-byte limit of the ${tier} tier`,
      );
    }
    const list = versions ?? [];
    // Parameter Store keeps the 100 newest versions and drops the oldest on the next write, unless
    // the oldest carries a label: then the write is refused (PutParameter API reference, errors:
    // ParameterMaxVersionLimitExceeded, https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html;
    // the same text in the SDK model, @aws-sdk/client-ssm dist-types/models/errors.d.ts). Message as AWS words it.
    if (list.length >= MAX_VERSIONS) {
      const oldest = list[0];
      if (oldest !== undefined && oldest.labels.length > 0) {
        throw new AwsError(
          'ParameterMaxVersionLimitExceeded',
          `You attempted to create a new version of ${input.name} by calling the PutParameter API with the overwrite flag. Version ${oldest.version}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.`,
        );
      }
      list.shift();
    }
    const version: ParameterVersion = {
      version: (current?.version ?? 0) + 1,
      value: input.value,
      type: input.type ?? current?.type ?? 'String',
      description: input.description ?? current?.description,
      tier,
      modifiedAt: this.#clock.now(),
      labels: [],
    };
    list.push(version);
    this.#parameters.set(input.name, list);
    return version.version;
  }

  /** Called before the operation runs: an overwrite without Type keeps a SecureString secret. */
  #redact(operation: string, input: JsonObject): JsonObject {
    if (operation !== 'PutParameter') return input;
    const existing = typeof input.Name === 'string' ? this.#parameters.get(input.Name)?.at(-1) : undefined;
    const secure =
      input.Type === 'SecureString' || (input.Type === undefined && existing?.type === 'SecureString');
    return secure ? { ...input, Value: REDACTED } : input;
  }

  #arn(name: string): string {
    return `arn:aws:ssm:${this.#region}:${this.#account}:parameter${name.startsWith('/') ? '' : '/'}${name}`;
  }

  #render(name: string, v: ParameterVersion, decrypt: boolean, selector?: string): JsonObject {
    return compact({
      Name: name,
      Type: v.type,
      Value: v.type === 'SecureString' && !decrypt ? ciphertext(name, v) : v.value,
      Version: v.version,
      Selector: selector,
      LastModifiedDate: epochSeconds(v.modifiedAt),
      ARN: this.#arn(name),
      DataType: 'text',
    }) as JsonObject;
  }

  #versions(name: string): ParameterVersion[] {
    const versions = this.#parameters.get(name);
    if (versions === undefined || versions.length === 0) {
      throw new AwsError('ParameterNotFound', `Parameter ${name} not found.`);
    }
    return versions;
  }

  service(): ServiceDefinition {
    return {
      name: 'ssm',
      targetPrefix: 'AmazonSSM',
      validationError: 'ValidationException',
      redact: (operation, input) => this.#redact(operation, input),
      operations: {
        GetParameter: {
          keys: ['Name', 'WithDecryption'],
          handle: (p: Params) => {
            this.#throttle('reads');
            const requested = p.requiredString('Name');
            const { name, selector } = splitSelector(requested);
            const versions = this.#versions(name);
            let version: ParameterVersion | undefined = versions.at(-1);
            if (selector !== undefined) {
              const key = selector.slice(1);
              version = /^\d+$/.test(key)
                ? versions.find((v) => v.version === Number(key))
                : versions.find((v) => v.labels.includes(key));
              if (version === undefined) {
                throw new AwsError('ParameterVersionNotFound', `Parameter ${requested} version not found.`);
              }
            }
            if (version === undefined)
              throw new AwsError('ParameterNotFound', `Parameter ${name} not found.`);
            return { Parameter: this.#render(name, version, p.boolean('WithDecryption') === true, selector) };
          },
        },
        // Up to 10 names per call, one read transaction whatever their number; names not found come
        // back in InvalidParameters, the found ones in alphabetical order (GetParameters API reference,
        // https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html;
        // SDK model, @aws-sdk/client-ssm dist-types/models/models_1.d.ts GetParametersRequest).
        // Version and label selectors are not emulated here: Gantry names current versions only.
        GetParameters: {
          keys: ['Names', 'WithDecryption'],
          handle: (p: Params) => {
            this.#throttle('reads');
            const names = p.stringArray('Names') ?? [];
            if (names.length < 1 || names.length > 10) throw p.invalid('Names must hold 1 to 10 names');
            if (names.some((name) => splitSelector(name).selector !== undefined)) {
              throw new UnsupportedParameter('GetParameters: version and label selectors are not emulated');
            }
            const decrypt = p.boolean('WithDecryption') === true;
            const found = [...new Set(names)].filter((name) => this.#parameters.get(name)?.length).sort();
            return {
              Parameters: found.map((name) =>
                this.#render(name, this.#versions(name).at(-1) as ParameterVersion, decrypt),
              ),
              InvalidParameters: names.filter((name) => !found.includes(name)),
            };
          },
        },
        GetParametersByPath: {
          keys: ['Path', 'Recursive', 'WithDecryption', 'MaxResults', 'NextToken'],
          handle: (p: Params) => {
            this.#throttle('reads');
            const path = p.requiredString('Path');
            if (!path.startsWith('/')) throw p.invalid(`Path '${path}' must begin with '/'`);
            const prefix = path.endsWith('/') ? path : `${path}/`;
            const recursive = p.boolean('Recursive') === true;
            const names = [...this.#parameters.keys()].filter((name) => {
              if (!name.startsWith(prefix)) return false;
              return recursive || !name.slice(prefix.length).includes('/');
            });
            const page = paginate(p, names, 10);
            const decrypt = p.boolean('WithDecryption') === true;
            return compact({
              Parameters: page.items.map((name) => {
                const current = this.#versions(name).at(-1) as ParameterVersion;
                return this.#render(name, current, decrypt);
              }),
              NextToken: page.nextToken,
            });
          },
        },
        PutParameter: {
          keys: ['Name', 'Value', 'Type', 'Overwrite', 'Description', 'Tier'],
          handle: (p: Params) => {
            this.#throttle('writes');
            const type = p.string('Type');
            if (type !== undefined && type !== 'String' && type !== 'SecureString') {
              throw new UnsupportedParameter(
                `PutParameter: Type '${type}' is not emulated (String, SecureString)`,
              );
            }
            const tier = p.string('Tier');
            if (tier !== undefined && tier !== 'Standard' && tier !== 'Advanced') {
              throw new UnsupportedParameter(
                `PutParameter: Tier '${tier}' is not emulated (Standard, Advanced)`,
              );
            }
            const version = this.#put({
              name: p.requiredString('Name'),
              value: p.string('Value') ?? '',
              type,
              description: p.string('Description'),
              overwrite: p.boolean('Overwrite') === true,
              ...(tier === undefined ? {} : { tier }),
            });
            const stored = this.#versions(p.requiredString('Name')).at(-1) as ParameterVersion;
            return { Version: version, Tier: stored.tier };
          },
        },
        DeleteParameter: {
          keys: ['Name'],
          handle: (p: Params) => {
            const name = p.requiredString('Name');
            this.#versions(name);
            this.#parameters.delete(name);
            return {};
          },
        },
        GetParameterHistory: {
          keys: ['Name', 'WithDecryption', 'MaxResults', 'NextToken'],
          handle: (p: Params) => {
            const name = p.requiredString('Name');
            const versions = this.#versions(name);
            const decrypt = p.boolean('WithDecryption') === true;
            const page = paginate(p, versions, 50);
            return compact({
              Parameters: page.items.map((v) =>
                compact({
                  Name: name,
                  Type: v.type,
                  KeyId: v.type === 'SecureString' ? 'alias/aws/ssm' : undefined,
                  LastModifiedDate: epochSeconds(v.modifiedAt),
                  LastModifiedUser: `arn:aws:iam::${this.#account}:user/gantry-sandbox`,
                  Description: v.description,
                  Value: v.type === 'SecureString' && !decrypt ? ciphertext(name, v) : v.value,
                  Version: v.version,
                  Labels: [...v.labels],
                  Tier: v.tier,
                  Policies: [],
                  DataType: 'text',
                }),
              ),
              NextToken: page.nextToken,
            });
          },
        },
        LabelParameterVersion: {
          keys: ['Name', 'Labels', 'ParameterVersion'],
          handle: (p: Params) => {
            const name = p.requiredString('Name');
            const labels = p.stringArray('Labels') ?? [];
            if (labels.length === 0 || labels.length > 10) throw p.invalid('Labels must hold 1 to 10 labels');
            const versions = this.#versions(name);
            const wanted = p.number('ParameterVersion');
            const target =
              wanted === undefined ? versions.at(-1) : versions.find((v) => v.version === wanted);
            if (target === undefined) {
              throw new AwsError(
                'ParameterVersionNotFound',
                `Systems Manager could not find version ${String(wanted)} of ${name}.`,
              );
            }
            const invalid = labels.filter((label) => !validLabel(label));
            const valid = labels.filter((label) => validLabel(label) && !target.labels.includes(label));
            if (target.labels.length + valid.length > 10) {
              throw new AwsError(
                'ParameterVersionLabelLimitExceeded',
                'A parameter version can have maximum 10 labels.',
              );
            }
            // A label names one version at a time: attaching it here detaches it from any other.
            for (const v of versions) {
              if (v === target) continue;
              for (const label of valid) {
                const at = v.labels.indexOf(label);
                if (at >= 0) v.labels.splice(at, 1);
              }
            }
            target.labels.push(...valid);
            return { InvalidLabels: invalid, ParameterVersion: target.version };
          },
        },
        // https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_UnlabelParameterVersion.html:
        // removes the labels from that version; labels it does not carry come back as InvalidLabels.
        UnlabelParameterVersion: {
          keys: ['Name', 'ParameterVersion', 'Labels'],
          handle: (p: Params) => {
            const name = p.requiredString('Name');
            const labels = p.stringArray('Labels') ?? [];
            if (labels.length === 0 || labels.length > 10) throw p.invalid('Labels must hold 1 to 10 labels');
            const wanted = p.number('ParameterVersion');
            const target = this.#versions(name).find((v) => v.version === wanted);
            if (target === undefined) {
              throw new AwsError(
                'ParameterVersionNotFound',
                `Systems Manager could not find version ${String(wanted)} of ${name}.`,
              );
            }
            const removed = labels.filter((label) => target.labels.includes(label));
            target.labels.splice(
              0,
              target.labels.length,
              ...target.labels.filter((label) => !removed.includes(label)),
            );
            return {
              RemovedLabels: removed,
              InvalidLabels: labels.filter((label) => !removed.includes(label)),
            };
          },
        },
      },
    };
  }
}

function checkName(name: string): void {
  if (name.includes('/') && !name.startsWith('/')) {
    throw new AwsError(
      'ValidationException',
      `Parameter name '${name}': a name containing '/' must be fully qualified (begin with '/')`,
    );
  }
  if (/^\/?(aws|ssm)/i.test(name)) {
    throw new AwsError('ValidationException', `Parameter name '${name}' must not begin with aws or ssm`);
  }
  if (name.split('/').length - 1 > 15) {
    throw new AwsError(
      'HierarchyLevelLimitExceededException',
      `Parameter name '${name}' is deeper than 15 levels`,
    );
  }
}

/** `name:3` and `name:label` select a version; a colon elsewhere is part of no valid name. */
function splitSelector(requested: string): { name: string; selector?: string } {
  const at = requested.lastIndexOf(':');
  if (at <= 0) return { name: requested };
  return { name: requested.slice(0, at), selector: requested.slice(at) };
}

function validLabel(label: string): boolean {
  return (
    label.length <= 100 && /^[a-zA-Z0-9_.-]+$/.test(label) && !/^\d/.test(label) && !/^(aws|ssm)/i.test(label)
  );
}

/** Stands in for the KMS ciphertext SSM returns without WithDecryption; reveals nothing of the value. */
function ciphertext(name: string, v: ParameterVersion): string {
  return `AQICAH${createHash('sha256').update(`${name}\u0000${v.version}\u0000${v.value}`).digest('base64')}`;
}

function paginate<T>(p: Params, items: readonly T[], max: number): { items: T[]; nextToken?: string } {
  const size = p.number('MaxResults') ?? max;
  if (!Number.isInteger(size) || size < 1 || size > max) throw p.invalid(`MaxResults must be 1 to ${max}`);
  const token = p.string('NextToken');
  let start = 0;
  if (token !== undefined) {
    const decoded = Number(
      Buffer.from(token, 'base64url')
        .toString('utf8')
        .replace(/^offset:/, ''),
    );
    if (!Number.isInteger(decoded) || decoded < 0) throw p.invalid('NextToken is not valid');
    start = decoded;
  }
  const slice = items.slice(start, start + size);
  const end = start + slice.length;
  return end < items.length
    ? { items: slice, nextToken: Buffer.from(`offset:${end}`).toString('base64url') }
    : { items: slice };
}
