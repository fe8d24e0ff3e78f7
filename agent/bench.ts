/**
 * Figures for agent/README.md: the built bundle's idle resident memory and its AWS calls per idle
 * hour. Runs the real single-file bundle as its own process against the sandbox emulator (a
 * simulation of SSM, SQS, ECR and EventBridge) and the docker lab's engine, with one service to
 * look after and no order, for `--seconds` (default 65: three long polls and a bit).
 *
 *   node --import tsx agent/bench.ts [--seconds 65]
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { startEmulator } from '../sandbox/emulator/index.ts';
import { pushTestImage, startDockerLab } from '../test/support/docker-lab.ts';
import { buildAgent } from './build.ts';

const flag = process.argv.indexOf('--seconds');
const seconds = flag >= 0 ? Number(process.argv[flag + 1]) : 65;
const backstopSeconds = 300;
/** The node flags the systemd unit and the container run the agent with (see README). */
const nodeFlags = process.argv.includes('--no-flags')
  ? []
  : ['--max-semi-space-size=1', '--max-old-space-size=48'];

const { path: bundle, bytes } = await buildAgent();
const lab = await startDockerLab((line) => console.error(`docker lab: ${line}`));
const emulator = await startEmulator();
emulator.clock.startRealtime();
emulator.ecr.setAuthorization({ username: lab.registryUser, password: lab.registryPassword });
const docker = new Docker({ socketPath: lab.socketPath });
const service = `gantry-agent-bench-${process.pid}`;
const configPath = join(tmpdir(), `gantry-agent-bench-${process.pid}.json`);
let child: ReturnType<typeof spawn> | undefined;
try {
  const image = await pushTestImage(lab, 'agent', 'bench', { script: 'while true; do sleep 1; done' });
  await docker.createService(
    { username: lab.registryUser, password: lab.registryPassword, serveraddress: lab.registry },
    {
      Name: service,
      TaskTemplate: { ContainerSpec: { Image: image } },
      Mode: { Replicated: { Replicas: 1 } },
    },
  );
  await writeFile(
    configPath,
    JSON.stringify({
      queueUrl: emulator.sqs.createQueue('bench'),
      eventBusName: 'default',
      targets: [{ app: 'bench', env: 'prod', services: [service] }],
      registries: [{ registry: lab.registry, repositories: ['agent'], auth: 'ecr' }],
      backstopSeconds,
    }),
  );
  child = spawn(process.execPath, [...nodeFlags, bundle, '--config', configPath], {
    env: {
      PATH: process.env.PATH,
      AWS_ENDPOINT_URL: emulator.url,
      AWS_REGION: emulator.region,
      AWS_ACCESS_KEY_ID: 'sandbox',
      AWS_SECRET_ACCESS_KEY: 'sandbox',
      DOCKER_HOST: `unix://${lab.socketPath}`,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = child.pid as number;
  const rss = async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  };
  // The start pass (order read, credentials re-stored, drift) happens in the first seconds.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const startCalls = emulator.calls.length;
  const samples: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    samples.push(await rss());
    await new Promise((resolve) => setTimeout(resolve, 5_000));
  }
  const idle = emulator.calls.slice(startCalls);
  const receives = idle.filter((call) => call.operation === 'ReceiveMessage').length;
  const startPass = emulator.calls.slice(0, startCalls).filter((c) => c.operation !== 'ReceiveMessage');
  const perPass = startPass.filter((call) => call.operation === 'GetParameter').length;
  // An empty queue answers each long poll after its full 20 s wait: 180 an hour. The window
  // measured shows the agent really waits (a few calls, not a busy loop).
  const receivesPerHour = 3600 / 20;
  const passesPerHour = 3600 / backstopSeconds;
  // ECR credentials are fetched again once less than 6 of their 12 hours are left: twice in 12 h.
  const tokensPerHour = 2 / 12;
  const perHour = receivesPerHour + passesPerHour * perPass + tokensPerHour;
  const figures = {
    bundleKiB: Math.round(bytes / 1024),
    nodeFlags,
    idleRssMiB: { max: Math.max(...samples).toFixed(1), last: (samples.at(-1) ?? 0).toFixed(1) },
    measuredSeconds: seconds,
    receivesMeasured: receives,
    startPassCalls: startPass.map((c) => c.operation),
    idleCallsMeasured: idle
      .map((c) => c.operation)
      .reduce<Record<string, number>>((counts, op) => {
        counts[op] = (counts[op] ?? 0) + 1;
        return counts;
      }, {}),
    awsCallsPerIdleHour: {
      ReceiveMessage: receivesPerHour,
      GetParameter: passesPerHour * perPass,
      GetAuthorizationToken: Number(tokensPerHour.toFixed(2)),
      total: Math.round(perHour),
    },
  };
  console.log(JSON.stringify(figures, null, 2));
} finally {
  child?.kill('SIGTERM');
  await docker
    .getService(service)
    .remove()
    .catch(() => {});
  await rm(configPath, { force: true });
  await emulator.close();
  await lab.stop();
}
