import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  AwsError,
  checkKeys,
  isObject,
  type JsonObject,
  Params,
  type ServiceDefinition,
  type ServiceName,
  UnsupportedOperation,
} from './protocol.ts';

/** One fault to inject: the next `times` calls matching service/operation fail with `error`. */
export interface FaultSpec {
  readonly service?: ServiceName;
  readonly operation?: string;
  readonly times: number;
  /** The error name the SDK will throw, e.g. `ThrottlingException`, `InternalServerError`. */
  readonly error: string;
  /** Default: 500 for names that say internal error or unavailable, else 400 (throttling included). */
  readonly status?: number;
  readonly message?: string;
}

/** One entry of the call log: what was asked and how it ended. Secrets are redacted. */
export interface CallRecord {
  readonly service: ServiceName;
  readonly operation: string;
  readonly input: JsonObject;
  /** The error name answered, if any. */
  readonly error?: string;
  /** The function that made the call, when the sandbox's caller header names one. */
  readonly caller?: string;
}

export class Faults {
  readonly #active: { spec: FaultSpec; left: number }[] = [];

  /** The next `spec.times` matching calls fail. */
  add(spec: FaultSpec): void {
    if (!Number.isInteger(spec.times) || spec.times < 1) throw new Error('faults.add: times must be >= 1');
    this.#active.push({ spec, left: spec.times });
  }

  clear(): void {
    this.#active.length = 0;
  }

  /** Faults not yet consumed. */
  pending(): number {
    return this.#active.reduce((n, f) => n + f.left, 0);
  }

  take(service: ServiceName, operation: string): AwsError | undefined {
    const fault = this.#active.find(
      (f) =>
        f.left > 0 &&
        (f.spec.service === undefined || f.spec.service === service) &&
        (f.spec.operation === undefined || f.spec.operation === operation),
    );
    if (fault === undefined) return undefined;
    fault.left -= 1;
    if (fault.left === 0) this.#active.splice(this.#active.indexOf(fault), 1);
    const { error } = fault.spec;
    const status = fault.spec.status ?? (/internal|unavailable|servererror/i.test(error) ? 500 : 400);
    return new AwsError(
      error,
      fault.spec.message ?? `Injected fault: ${error} on ${service} ${operation}`,
      status,
    );
  }
}

/** A call the authorization hook checks: only calls stamped with the function that made them. */
export interface StampedCall {
  readonly service: ServiceName;
  /** The `X-Amz-Target` prefix, which names the AWS service. */
  readonly targetPrefix: string;
  readonly operation: string;
  readonly input: JsonObject;
  /** The function key the sandbox's caller header names. */
  readonly caller: string;
}

/** Runs an operation inside the emulator, unrecorded and unchecked: how a check reads state (tags). */
export type InternalCall = (service: ServiceName, operation: string, input: JsonObject) => Promise<unknown>;

/** Refuses a call by throwing an {@link AwsError} (AWS's `AccessDeniedException`). */
export type CallCheck = (call: StampedCall, internal: InternalCall) => Promise<void>;

/**
 * The authorization hook: when a check is installed, every call stamped with a caller is checked
 * before it runs, as IAM does on AWS. Calls with no caller (tests seeding state) are not checked.
 */
export class Authorization {
  #check: CallCheck | undefined;

  use(check: CallCheck): void {
    this.#check = check;
  }

  clear(): void {
    this.#check = undefined;
  }

  get check(): CallCheck | undefined {
    return this.#check;
  }
}

export interface ServerParts {
  readonly services: readonly ServiceDefinition[];
  readonly faults: Faults;
  readonly calls: CallRecord[];
  readonly authorization?: Authorization;
}

export function createEmulatorServer(parts: ServerParts): Server {
  const byPrefix = new Map(parts.services.map((s) => [s.targetPrefix, s]));
  const byName = new Map(parts.services.map((s) => [s.name, s]));
  const internal: InternalCall = async (serviceName, operationName, input) => {
    const service = byName.get(serviceName);
    const operation = service?.operations[operationName];
    if (service === undefined || operation === undefined) {
      throw new Error(`no ${serviceName} ${operationName} to call internally`);
    }
    return operation.handle(new Params(input, `${serviceName} ${operationName}`, service.validationError));
  };

  async function handle(req: IncomingMessage, body: string): Promise<{ status: number; payload: unknown }> {
    if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
      throw new UnsupportedOperation(
        `${req.method ?? '?'} ${req.url ?? ''}: only the AWS JSON protocols (POST /) are emulated`,
      );
    }
    if (req.headers.authorization === undefined) {
      throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
    }
    const contentType = String(req.headers['content-type'] ?? '');
    if (!/^application\/x-amz-json-1\.[01]\b/.test(contentType)) {
      throw new UnsupportedOperation(`Content-Type '${contentType}' is not an AWS JSON protocol`);
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const dot = target.lastIndexOf('.');
    const prefix = target.slice(0, Math.max(0, dot));
    const operationName = target.slice(dot + 1);
    const service = byPrefix.get(prefix);
    if (service === undefined) {
      throw new UnsupportedOperation(
        `X-Amz-Target '${target}' names a service the Gantry sandbox does not emulate`,
      );
    }
    let input: unknown;
    try {
      input = body === '' ? {} : JSON.parse(body);
    } catch {
      throw new AwsError('SerializationException', 'Request body is not JSON');
    }
    if (!isObject(input)) throw new AwsError('SerializationException', 'Request body must be a JSON object');
    const operation = service.operations[operationName];
    const header = req.headers['x-gantry-sandbox-caller'];
    const caller = typeof header === 'string' ? header : undefined;
    const record = (error?: string): void => {
      const logged =
        service.redact === undefined ? input : service.redact(operationName, input as JsonObject);
      parts.calls.push({
        service: service.name,
        operation: operationName,
        input: structuredClone(logged as JsonObject),
        ...(error === undefined ? {} : { error }),
        ...(caller !== undefined && { caller }),
      });
    };
    try {
      if (operation === undefined) {
        throw new UnsupportedOperation(
          `${service.name} ${operationName} is not emulated by the Gantry sandbox`,
        );
      }
      const where = `${service.name} ${operationName}`;
      checkKeys(where, input, operation.keys);
      const check = parts.authorization?.check;
      if (check !== undefined && caller !== undefined) {
        await check(
          {
            service: service.name,
            targetPrefix: prefix,
            operation: operationName,
            input: input as JsonObject,
            caller,
          },
          internal,
        );
      }
      const fault = parts.faults.take(service.name, operationName);
      if (fault !== undefined) throw fault;
      const result = await operation.handle(new Params(input, where, service.validationError));
      record();
      return { status: 200, payload: result ?? {} };
    } catch (error) {
      record(error instanceof Error ? error.name : 'Error');
      throw error;
    }
  }

  function respond(res: ServerResponse, status: number, payload: unknown): void {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(text);
  }

  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, Buffer.concat(chunks).toString('utf8')).then(
        ({ status, payload }) => respond(res, status, payload),
        (error: unknown) => {
          if (error instanceof AwsError) {
            respond(res, error.status, { __type: error.name, message: error.message });
          } else {
            // An emulator bug: say so instead of pretending AWS failed.
            const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
            respond(res, 500, { __type: 'EmulatorInternalError', message });
          }
        },
      );
    });
  });
}
