import { parseArgs } from 'node:util';
import { sandboxDefaults } from '../cli/sandbox-endpoint.ts';
import type { Scenario } from './emulator/index.ts';
import { type Sandbox, startSandbox } from './sandbox.ts';

/**
 * `npm run sandbox -- serve [--port N] [--speed X]`: keeps a sandbox running with a demo fleet
 * and prints its endpoint, so the `gantry` CLI (`--sandbox`, or `--endpoint`) acts on one state
 * across commands: deploy, then status, then rollback. A SIMULATION on loopback: nothing deploys.
 */

/** Images in the fleet's repositories and how their rollouts behave, for people to deploy. */
interface FleetImage {
  tag: string;
  rollout: Scenario;
  /** Deployed through Gantry while the sandbox starts. */
  deployed?: boolean;
  /** Deleted from ECR after that, as a lifecycle policy would: a rollback to it must be refused. */
  deletedAfterwards?: boolean;
}

export const demoFleet: { app: string; env: string; repository: string; images: FleetImage[] }[] = [
  {
    app: 'web',
    env: 'prod',
    repository: 'web',
    images: [
      { tag: 'v1.0.0', rollout: 'healthy', deployed: true },
      { tag: 'v1.1.0', rollout: 'healthy', deployed: true },
      { tag: 'v1.2.0', rollout: 'healthy' },
      { tag: 'v1.3.0', rollout: 'crashLoop' },
    ],
  },
  {
    app: 'web',
    env: 'staging',
    repository: 'web',
    images: [{ tag: 'v1.0.0', rollout: 'healthy', deployed: true }],
  },
  {
    app: 'api',
    env: 'prod',
    repository: 'api',
    images: [
      { tag: 'v2.0.0', rollout: 'healthy', deployed: true },
      { tag: 'v2.1.0', rollout: 'crashLoop' },
    ],
  },
  {
    app: 'shop',
    env: 'prod',
    repository: 'shop',
    images: [
      { tag: 'v3.0.0', rollout: 'healthy', deployed: true, deletedAfterwards: true },
      { tag: 'v3.1.0', rollout: 'healthy', deployed: true },
      { tag: 'v3.2.0', rollout: 'healthy', deployed: true },
    ],
  },
];

/**
 * Seeds the fleet: services, configs, images (put without their push event, so nothing deploys by
 * itself); the `deployed` ones go live through Gantry's own state machine, one after the other.
 */
export async function seedDemoFleet(sandbox: Sandbox): Promise<void> {
  for (const { app, env, repository } of demoFleet) {
    sandbox.seedApp({ app, env, repository });
    // The secret seedApp's task definition names, so `gantry plan` finds it.
    sandbox.emulator.ssm.put(`/${app}/db-url`, `postgres://${app}.demo.invalid/${env}`, {
      type: 'SecureString',
    });
  }
  for (const { app, env, repository, images } of demoFleet) {
    for (const image of images) {
      const { digest } = sandbox.emulator.ecr.putImage({ repository, tag: image.tag });
      sandbox.emulator.ecs.setScenario(digest, image.rollout);
      if (image.deployed) {
        sandbox.startExecution(
          { app, env, image: `${repository}:${image.tag}`, reason: 'demo fleet' },
          `seed-${app}-${env}-${image.tag.replaceAll('.', '-')}`,
        );
        await sandbox.idle();
      }
    }
    for (const image of images.filter((candidate) => candidate.deletedAfterwards)) {
      const digest = sandbox.emulator.ecr.resolveTag(repository, image.tag);
      if (digest) sandbox.emulator.ecr.removeImage(repository, digest);
    }
  }
}

export async function serve(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string', default: String(sandboxDefaults.port) },
      speed: { type: 'string', default: '20' },
    },
    strict: true,
  });
  const port = Number(values.port);
  const speed = Number(values.speed);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new Error(`--port "${values.port}" is not a port`);
  if (!Number.isFinite(speed) || speed <= 0)
    throw new Error(`--speed "${values.speed}" must be a number > 0`);

  const sandbox = await startSandbox({ port, speed, region: sandboxDefaults.region });
  // `gantry --sandbox` assumes these names (cli/sandbox-endpoint.ts): say so if they ever part.
  if (sandbox.coordinationTable !== sandboxDefaults.coordinationTable) {
    throw new Error(
      `the sandbox's table is ${sandbox.coordinationTable}, gantry --sandbox expects ${sandboxDefaults.coordinationTable}`,
    );
  }
  console.log('Gantry sandbox: a local SIMULATION of the AWS side of Gantry; nothing is deployed anywhere.');
  console.log(`Simulated time runs ${speed}x faster than real time. Seeding the demo fleet…`);
  await seedDemoFleet(sandbox);
  for (const { app, env, repository, images } of demoFleet) {
    const described = images.map(
      (image) =>
        `${repository}:${image.tag} (${image.deletedAfterwards ? 'deleted from ECR' : image.rollout})`,
    );
    console.log(`  ${app}/${env}: ${described.join(', ')}`);
  }
  const flag = port === sandboxDefaults.port ? '--sandbox' : `--sandbox --endpoint ${sandbox.emulator.url}`;
  console.log(`Try: npx gantry ${flag} status`);
  // The last line: scripts and tests wait for it.
  console.log(`endpoint: ${sandbox.emulator.url}`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sandbox.close();
}
