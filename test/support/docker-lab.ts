/**
 * A real Docker Engine, a swarm and a private registry for the tests that need them (the swarm
 * target's agent and the Docker API simulator's differential test). Started once per `npm test`
 * by test/global-setup.ts, torn down after.
 *
 * What it brings up, and why (facts checked on these machines: ../shared/TOOLCHAIN.md):
 * - Debian's `docker.io`, `docker-registry` and `busybox-static`, installed when missing. Only as
 *   root; otherwise it fails naming the command to run. It never skips.
 * - Its own dockerd, only when none answers on the default socket: two daemons on one host break
 *   each other's bridge. A daemon it did not start is reused, but never put into swarm mode
 *   behind the user's back: it fails and names `docker swarm init` instead.
 * - A registry on 127.0.0.1 with htpasswd auth (loopback registries need no TLS), so the agent's
 *   login path (credentials from ECR's GetAuthorizationToken, here the emulator's) is exercised.
 * - Images built `FROM scratch` with busybox (Docker Hub is unreachable) and pushed, so every
 *   digest is real.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

const run = promisify(execFile);

/** What tests need to reach the lab (plain data: vitest passes it from the global setup). */
export interface DockerLabInfo {
  /** `unix://…` for `DOCKER_HOST`, or the socket path for dockerode. */
  readonly socketPath: string;
  /** `127.0.0.1:<port>` */
  readonly registry: string;
  readonly registryUser: string;
  readonly registryPassword: string;
  /** `DOCKER_CONFIG` for the docker CLI, logged in to the registry. */
  readonly dockerConfig: string;
  /** Whether this lab started the daemon (and so may clean it up whole). */
  readonly ownDaemon: boolean;
}

export interface DockerLab extends DockerLabInfo {
  stop(): Promise<void>;
}

const packages = { dockerd: 'docker.io', 'docker-registry': 'docker-registry', busybox: 'busybox-static' };
const installCommand = `apt-get update && apt-get install -y ${Object.values(packages).join(' ')}`;

async function onPath(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

async function ensurePackages(log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const command of Object.keys(packages)) if (!(await onPath(command))) missing.push(command);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`Docker tests need ${missing.join(', ')}. Run as root: ${installCommand}`);
  }
  log(`installing ${missing.map((command) => packages[command as keyof typeof packages]).join(', ')}`);
  await run('sh', ['-c', installCommand], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` in real time until it holds: a real engine, daemon or registry gives tests no
 * cheaper signal to wait on.
 */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function docker(socketPath: string, dockerConfig: string) {
  return (args: string[], options: { input?: string } = {}) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile(
        'docker',
        args,
        {
          env: { ...process.env, DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: dockerConfig },
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) =>
          error ? reject(new Error(`docker ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
      );
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
}

async function answers(socketPath: string, dockerConfig: string): Promise<boolean> {
  if (!existsSync(socketPath)) return false;
  try {
    await docker(socketPath, dockerConfig)(['version', '--format', '{{.Server.Version}}']);
    return true;
  } catch {
    return false;
  }
}

function stopProcess(child: ChildProcess | undefined, timeoutMs = 15_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Brings the lab up; `log` receives one line per slow step. */
export async function startDockerLab(log: (line: string) => void = () => {}): Promise<DockerLab> {
  await ensurePackages(log);
  const root = await mkdtemp(join(tmpdir(), 'gantry-docker-lab-'));
  const dockerConfig = join(root, 'cli');
  await mkdir(dockerConfig);
  let daemon: ChildProcess | undefined;
  let registryProcess: ChildProcess | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await stopProcess(registryProcess);
    await stopProcess(daemon);
    await rm(root, { recursive: true, force: true });
  };

  try {
    const defaultSocket = '/var/run/docker.sock';
    const ownDaemon = !(await answers(defaultSocket, dockerConfig));
    let socketPath = defaultSocket;
    if (ownDaemon) {
      socketPath = join(root, 'docker.sock');
      log('starting dockerd');
      const daemonLog = createWriteStream(join(root, 'dockerd.log'));
      daemon = spawn(
        'dockerd',
        [
          '--data-root',
          join(root, 'data'),
          '--exec-root',
          join(root, 'exec'),
          '--host',
          `unix://${socketPath}`,
          '--pidfile',
          join(root, 'dockerd.pid'),
          // No docker0 bridge and no iptables rules: stopping a daemon that owns them breaks any
          // other daemon on the host (seen here), e.g. a second test run in another checkout.
          '--bridge=none',
          '--iptables=false',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      daemon.stdout?.pipe(daemonLog);
      daemon.stderr?.pipe(daemonLog);
      await until('dockerd to answer', () => answers(socketPath, dockerConfig), 60_000);
    }
    const cli = docker(socketPath, dockerConfig);
    const swarm = (await cli(['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim();
    if (swarm !== 'active') {
      if (!ownDaemon) {
        throw new Error(
          'The running Docker daemon is not a swarm manager, and the tests never change a daemon they did not start. Run: docker swarm init --advertise-addr 127.0.0.1',
        );
      }
      // Ports of its own, so two test runs on one host (each with its own daemon) can coexist.
      const [swarmPort, dataPathPort] = [await freePort(), await freePort()];
      await cli([
        'swarm',
        'init',
        '--advertise-addr',
        `127.0.0.1:${swarmPort}`,
        '--listen-addr',
        `127.0.0.1:${swarmPort}`,
        '--data-path-port',
        String(dataPathPort),
      ]);
      cleanups.push(async () => {
        await cli(['swarm', 'leave', '--force']);
      });
    }

    const port = await freePort();
    const registry = `127.0.0.1:${port}`;
    const registryUser = 'gantry';
    const registryPassword = `lab-${Math.random().toString(36).slice(2)}`;
    await writeFile(join(root, 'htpasswd'), `${registryUser}:${bcrypt.hashSync(registryPassword, 10)}\n`);
    await writeFile(
      join(root, 'registry.yml'),
      [
        'version: 0.1',
        'storage:',
        `  filesystem: { rootdirectory: ${join(root, 'registry')} }`,
        '  delete: { enabled: true }',
        `http: { addr: "${registry}" }`,
        `auth: { htpasswd: { realm: gantry-lab, path: ${join(root, 'htpasswd')} } }`,
        '',
      ].join('\n'),
    );
    log('starting the registry');
    const registryLog = createWriteStream(join(root, 'registry.log'));
    registryProcess = spawn('docker-registry', ['serve', join(root, 'registry.yml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    registryProcess.stdout?.pipe(registryLog);
    registryProcess.stderr?.pipe(registryLog);
    await until(
      'the registry to answer',
      async () => {
        try {
          // 401 without credentials: it is up and enforcing auth.
          return (await fetch(`http://${registry}/v2/`)).status === 401;
        } catch {
          return false;
        }
      },
      30_000,
    );
    await cli(['login', registry, '--username', registryUser, '--password-stdin'], {
      input: registryPassword,
    });
    return { socketPath, registry, registryUser, registryPassword, dockerConfig, ownDaemon, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** How a test image behaves once started. */
export interface TestImageSpec {
  /** Shell run by busybox sh, e.g. `while true; do sleep 1; done` or `exit 1`. */
  readonly script: string;
  /** A HEALTHCHECK shell command, if any (e.g. `exit 1` for an image that never turns healthy). */
  readonly healthcheck?: string;
}

/**
 * Builds a `FROM scratch` busybox image running `spec.script`, pushes it as
 * `<registry>/<repository>:<tag>` and returns `<registry>/<repository>@sha256:…`.
 */
export async function pushTestImage(
  lab: DockerLabInfo,
  repository: string,
  tag: string,
  spec: TestImageSpec,
): Promise<string> {
  const context = await mkdtemp(join(tmpdir(), 'gantry-image-'));
  try {
    const busybox = (await run('sh', ['-c', 'command -v busybox'])).stdout.trim();
    await copyFile(busybox, join(context, 'busybox'));
    const lines = [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      ...(spec.healthcheck
        ? [
            `HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD ["/bin/sh", "-c", ${JSON.stringify(spec.healthcheck)}]`,
          ]
        : []),
      `CMD ["/bin/sh", "-c", ${JSON.stringify(spec.script)}]`,
    ];
    await writeFile(join(context, 'Dockerfile'), `${lines.join('\n')}\n`);
    const cli = docker(lab.socketPath, lab.dockerConfig);
    const name = `${lab.registry}/${repository}:${tag}`;
    await cli(['build', '--quiet', '--tag', name, context]);
    await cli(['push', name]);
    const digest = (await cli(['image', 'inspect', '--format', '{{index .RepoDigests 0}}', name])).trim();
    if (!/@sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`no digest after pushing ${name}: ${digest}`);
    return digest;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}
