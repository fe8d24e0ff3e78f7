/** AWS JSON 1.0/1.1 protocol pieces shared by every emulated service. */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/**
 * An error the emulator answers with, AWS style: `status` and a body `{"__type": name, "message"}`.
 * The SDK turns `name` into the thrown error's `name`, so tests and handlers match on it.
 */
export class AwsError extends Error {
  readonly status: number;

  constructor(name: string, message: string, status = 400) {
    super(message);
    this.name = name;
    this.status = status;
  }
}

/** The emulator does not know this operation: it never pretends to succeed. */
export class UnsupportedOperation extends AwsError {
  constructor(message: string) {
    super('UnsupportedOperation', message);
  }
}

/** The operation is emulated but this parameter (or value) is not. */
export class UnsupportedParameter extends AwsError {
  constructor(message: string) {
    super('UnsupportedParameter', message);
  }
}

/** An operation of one emulated service: the request keys it accepts and what it does. */
export interface Operation {
  readonly keys: readonly string[];
  readonly handle: (input: Params) => unknown;
}

export type ServiceName =
  | 'ssm'
  | 'ecs'
  | 'ecr'
  | 'sfn'
  | 'events'
  | 'dynamodb'
  | 'lightsail'
  | 'sqs'
  | 'cloudwatch';

export interface ServiceDefinition {
  readonly name: ServiceName;
  /** The `X-Amz-Target` prefix before the dot. */
  readonly targetPrefix: string;
  /** The error name this service uses for malformed parameters. */
  readonly validationError: string;
  readonly operations: Readonly<Record<string, Operation>>;
  /** Copy of the input safe to keep in the call log (secrets and task tokens removed). */
  readonly redact?: (operation: string, input: JsonObject) => JsonObject;
}

export const REDACTED = '***redacted***';

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Rejects any key outside `allowed`, naming it: unknown parameters fail loudly. */
export function checkKeys(where: string, value: JsonObject, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new UnsupportedParameter(`${where}: parameter '${key}' is not emulated by the Gantry sandbox`);
    }
  }
}

/** Typed, validating access to one request's parameters. */
export class Params {
  readonly raw: JsonObject;
  readonly #where: string;
  readonly #validationError: string;

  constructor(raw: JsonObject, where: string, validationError: string) {
    this.raw = raw;
    this.#where = where;
    this.#validationError = validationError;
  }

  invalid(message: string): AwsError {
    return new AwsError(this.#validationError, `${this.#where}: ${message}`);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  string(key: string): string | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.invalid(`'${key}' must be a string`);
    return value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined || value === '') throw this.invalid(`'${key}' is required`);
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw this.invalid(`'${key}' must be a boolean`);
    return value;
  }

  number(key: string): number | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.invalid(`'${key}' must be a number`);
    return value;
  }

  array(key: string): Json[] | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw this.invalid(`'${key}' must be a list`);
    return value;
  }

  stringArray(key: string): string[] | undefined {
    const value = this.array(key);
    if (value === undefined) return undefined;
    return value.map((item) => {
      if (typeof item !== 'string') throw this.invalid(`'${key}' must be a list of strings`);
      return item;
    });
  }

  objectArray(key: string, allowedKeys: readonly string[]): JsonObject[] | undefined {
    const value = this.array(key);
    if (value === undefined) return undefined;
    return value.map((item) => {
      if (!isObject(item)) throw this.invalid(`'${key}' must be a list of objects`);
      checkKeys(`${this.#where} ${key}[]`, item, allowedKeys);
      return item;
    });
  }
}

/** Epoch milliseconds to the JSON protocols' timestamp format (epoch seconds, fractional). */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

/** `T` with its possibly-undefined members made optional instead. */
export type Compact<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/** Drops `undefined` members so the JSON body carries only what is set. */
export function compact<T extends Record<string, unknown>>(value: T): Compact<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Compact<T>;
}
