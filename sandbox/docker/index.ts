/**
 * The Gantry sandbox's Docker Engine API SIMULATOR: an HTTP server answering the Engine API v1.41
 * endpoints the swarm host agent uses (https://docs.docker.com/engine/api/v1.41/: `GET /_ping`,
 * `GET /version`, `GET /services`, `POST /services/create`, `GET /services/{id}`,
 * `POST /services/{id}/update`, `DELETE /services/{id}`, `GET /tasks`, `GET /tasks/{id}`) in the
 * real engine's shapes, with swarm services whose rollouts run on the sandbox's simulated clock.
 * Any other endpoint, parameter or spec key answers 501 naming what is not emulated; it never
 * pretends. A client reaches it unchanged: `new Docker({ socketPath })` or `new Docker({ host, port })`.
 *
 * It is a simulator for demos and fast tests; `test/docker/simulator-diff.test.ts` holds it to a
 * real Docker Engine. README.md in this folder says what is modelled and from which source.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimClock } from '../emulator/clock.ts';
import { EngineError, isObject, type Json, NotSimulated } from './model.ts';
import { decodeRegistryAuth, SwarmSimulator } from './swarm.ts';

export type { ImageScenario } from './model.ts';
export type { RegistryAuth, SwarmSimulator } from './swarm.ts';

/** The API version the simulator speaks: Docker Engine 20.10's. */
export const simulatedApiVersion = '1.41';
const minimumApiVersion = '1.12';

/** Options of {@link startDockerSimulator}. */
export interface DockerSimulatorOptions {
  /** The clock rollouts run on; share the emulator's to keep one simulated time (default: a new one). */
  readonly clock?: SimClock;
  /** Listen on this unix socket (for `new Docker({ socketPath })`); otherwise on 127.0.0.1 TCP. */
  readonly socketPath?: string;
  /** TCP port on 127.0.0.1 when no socket is given (default 0: any free port). */
  readonly port?: number;
}

/** A running simulator. */
export interface DockerSimulator {
  /** Connection options for dockerode: `{ socketPath }` or `{ host, port }`. */
  readonly dockerode: { readonly socketPath: string } | { readonly host: string; readonly port: number };
  /** `unix://…` or `tcp://127.0.0.1:…`, for `DOCKER_HOST`. */
  readonly dockerHost: string;
  readonly clock: SimClock;
  /** Scenarios per image, registry auth, the daemon log. */
  readonly swarm: SwarmSimulator;
  close(): Promise<void>;
}

function versionCheck(version: string): void {
  const [major, minor] = version.split('.').map(Number);
  const [maxMajor, maxMinor] = simulatedApiVersion.split('.').map(Number);
  const [minMajor, minMinor] = minimumApiVersion.split('.').map(Number);
  const value = (major ?? 0) * 1000 + (minor ?? 0);
  // The daemon's version middleware (moby api/server/middleware/version.go) words these so.
  if (value > (maxMajor ?? 0) * 1000 + (maxMinor ?? 0)) {
    throw new EngineError(
      400,
      `client version ${version} is too new. Maximum supported API version is ${simulatedApiVersion}`,
    );
  }
  if (value < (minMajor ?? 0) * 1000 + (minMinor ?? 0)) {
    throw new EngineError(
      400,
      `client version ${version} is too old. Minimum supported API version is ${minimumApiVersion}, please upgrade your client to a newer version`,
    );
  }
}

/** `filters` as the engine takes it: `{"key": ["v"]}` or `{"key": {"v": true}}`. */
function parseFilters(text: string | null): Record<string, string[]> {
  if (text === null || text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EngineError(400, 'invalid filter');
  }
  if (!isObject(parsed)) throw new EngineError(400, 'invalid filter');
  const filters: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (Array.isArray(value)) filters[key] = value.map(String);
    else if (isObject(value)) filters[key] = Object.keys(value).filter((k) => value[k] === true);
    else throw new EngineError(400, `invalid filter '${key}'`);
  }
  return filters;
}

function checkQuery(url: URL, allowed: readonly string[], body: Record<string, unknown> = {}): void {
  for (const key of url.searchParams.keys()) {
    // dockerode repeats every body key in the query string of a POST; the engine ignores them.
    if (!allowed.includes(key) && !(key in body)) throw new NotSimulated(`the query parameter '${key}'`);
  }
}

function parseBody(text: string): Record<string, Json> {
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new EngineError(400, 'invalid JSON in request body');
  }
  if (!isObject(parsed)) throw new EngineError(400, 'request body must be a JSON object');
  return parsed;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly text?: string;
}

function route(swarm: SwarmSimulator, req: IncomingMessage, text: string): Reply {
  const url = new URL(req.url ?? '/', 'http://docker');
  const method = req.method ?? 'GET';
  let path = url.pathname;
  const versioned = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
  if (versioned !== null) {
    versionCheck(versioned[1] as string);
    path = versioned[2] as string;
  }
  const parts = path.split('/').filter((part) => part !== '');
  const [resource, id, action] = parts;

  if (path === '/_ping' && (method === 'GET' || method === 'HEAD')) return { status: 200, text: 'OK' };
  if (path === '/version' && method === 'GET') {
    const details = {
      ApiVersion: simulatedApiVersion,
      Arch: 'amd64',
      BuildTime: '2026-12-03T00:00:00.000000000+00:00',
      Experimental: 'false',
      GitCommit: 'simulator',
      GoVersion: 'none',
      KernelVersion: 'simulated',
      MinAPIVersion: minimumApiVersion,
      Os: 'linux',
    };
    return {
      status: 200,
      body: {
        Platform: { Name: 'Gantry Docker Engine API SIMULATOR' },
        Components: [{ Name: 'Engine', Version: '20.10.24-gantry-simulator', Details: details }],
        Version: '20.10.24-gantry-simulator',
        ...details,
        Experimental: false,
      },
    };
  }
  if (resource === 'services' && parts.length === 1 && method === 'GET') {
    checkQuery(url, ['filters', 'status']);
    const withStatus = url.searchParams.get('status') === 'true';
    return {
      status: 200,
      body: swarm.listServices(parseFilters(url.searchParams.get('filters')), withStatus),
    };
  }
  if (resource === 'services' && id === 'create' && parts.length === 2 && method === 'POST') {
    const body = parseBody(text);
    checkQuery(url, [], body);
    const auth = decodeRegistryAuth(headerValue(req, 'x-registry-auth'));
    return { status: 201, body: swarm.createService(body, auth) };
  }
  if (resource === 'services' && id !== undefined && parts.length === 2 && method === 'GET') {
    checkQuery(url, ['insertDefaults']);
    if (url.searchParams.get('insertDefaults') === 'true') {
      throw new NotSimulated('GET /services/{id}?insertDefaults=true');
    }
    return { status: 200, body: swarm.inspectService(decodeURIComponent(id)) };
  }
  if (resource === 'services' && id !== undefined && parts.length === 2 && method === 'DELETE') {
    swarm.removeService(decodeURIComponent(id));
    return { status: 200, text: '' };
  }
  if (
    resource === 'services' &&
    id !== undefined &&
    action === 'update' &&
    parts.length === 3 &&
    method === 'POST'
  ) {
    const body = parseBody(text);
    const version = url.searchParams.get('version');
    // dockerode also puts `version` into the body; the engine ignores body keys it does not know.
    if ('version' in body && String(body.version) === version) delete body.version;
    checkQuery(url, ['version', 'registryAuthFrom', 'rollback'], body);
    const auth = decodeRegistryAuth(headerValue(req, 'x-registry-auth'));
    return {
      status: 200,
      body: swarm.updateService(decodeURIComponent(id), version, body, auth, {
        registryAuthFrom: url.searchParams.get('registryAuthFrom'),
        rollback: url.searchParams.get('rollback'),
      }),
    };
  }
  if (resource === 'tasks' && parts.length === 1 && method === 'GET') {
    checkQuery(url, ['filters']);
    return { status: 200, body: swarm.listTasks(parseFilters(url.searchParams.get('filters'))) };
  }
  if (resource === 'tasks' && id !== undefined && parts.length === 2 && method === 'GET') {
    return { status: 200, body: swarm.inspectTask(decodeURIComponent(id)) };
  }
  throw new NotSimulated(`${method} ${url.pathname}`);
}

function respond(res: ServerResponse, reply: Reply, head: boolean): void {
  const payload = reply.text ?? JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'Content-Type': reply.text === undefined ? 'application/json' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'Api-Version': simulatedApiVersion,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: 'Docker/20.10.24-gantry-simulator (linux)',
    // Says what answered, so nobody mistakes the simulator for an engine in a log or a capture.
    'X-Gantry-Simulator': 'docker-engine-api',
  });
  res.end(head ? undefined : payload);
}

function createSimulatorServer(swarm: SwarmSimulator): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let reply: Reply;
      try {
        reply = route(swarm, req, Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        reply =
          error instanceof EngineError
            ? { status: error.status, body: { message: error.message } }
            : // A simulator bug: say so instead of pretending the engine failed.
              {
                status: 500,
                body: {
                  message: `Docker Engine API SIMULATOR internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
                },
              };
      }
      respond(res, reply, req.method === 'HEAD');
    });
  });
}

/** Starts the simulator on a unix socket or on 127.0.0.1. */
export async function startDockerSimulator(options: DockerSimulatorOptions = {}): Promise<DockerSimulator> {
  const clock = options.clock ?? new SimClock(Date.now());
  const swarm = new SwarmSimulator(clock);
  const server = createSimulatorServer(swarm);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (options.socketPath !== undefined) server.listen(options.socketPath, () => resolve());
    else server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const dockerode =
    options.socketPath !== undefined
      ? { socketPath: options.socketPath }
      : { host: '127.0.0.1', port: (address as AddressInfo).port };
  return {
    dockerode,
    dockerHost:
      'socketPath' in dockerode ? `unix://${dockerode.socketPath}` : `tcp://127.0.0.1:${dockerode.port}`,
    clock,
    swarm,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}
