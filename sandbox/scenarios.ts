import { gateStages } from '../functions/src/ecs/service-deployment.ts';
import type { ImageScenario } from './docker/index.ts';
import type { Scenario } from './emulator/index.ts';
import type { ExecutionDescription } from './runner.ts';
import type { AppSeed, Sandbox, SwarmAppSeed } from './sandbox.ts';

/** One image pushed in a scenario, with how its rollout behaves and what Gantry should make of it. */
export interface ScenarioStep {
  tag: string;
  rollout: Scenario;
  expect: 'Deployed' | 'RolledBack' | 'Superseded';
  /** How the image behaves on the scenario's swarm, and what Gantry should make of it there. */
  swarm?: { rollout: ImageScenario; expect: 'Deployed' | 'RolledBack' };
  /** Injected before the push: what goes wrong around it. */
  fault?: (sandbox: Sandbox) => void;
  note: string;
}

export interface SandboxScenario {
  summary: string;
  /** Simulated seconds per real second; long scenarios run faster so they stay short to watch. */
  speed?: number;
  app: AppSeed;
  /** A swarm app/env tracking the same repository: one push deploys to both targets. */
  swarm?: SwarmAppSeed;
  steps: ScenarioStep[];
}

/** The swarm environment of the two-target scenarios: the same repository, on the Docker Engine API simulator. */
const swarmEdge: SwarmAppSeed = {
  app: 'web',
  env: 'edge',
  repository: 'web',
  services: ['web_http', 'web_worker'],
};

const app = (extra: Partial<AppSeed> = {}): AppSeed => ({
  app: 'web',
  env: 'prod',
  repository: 'web',
  ...extra,
});

/**
 * The PAUSE hook a gated service carries (README, "Blue/green, linear and canary services"): at
 * every stage Gantry's gates decide, rolling back if nobody answers within the hour.
 */
export const gatedPauseHook = {
  targetType: 'PAUSE',
  lifecycleStages: [...gateStages],
  timeoutConfiguration: { timeoutInMinutes: 60, action: 'ROLLBACK' },
};

/** A service on a blue/green, linear or canary strategy with {@link gatedPauseHook}. */
export function stagedConfiguration(
  configuration: Record<string, unknown>,
): AppSeed['deploymentConfiguration'] {
  return { ...configuration, lifecycleHooks: [gatedPauseHook] } as AppSeed['deploymentConfiguration'];
}

/** A gated service whose gates read the alarm web-5xx. */
function stagedService(configuration: Record<string, unknown>): Partial<AppSeed> {
  return {
    deploymentConfiguration: stagedConfiguration(configuration),
    config: { gates: { alarms: ['web-5xx'] } },
  };
}

/** The first push of the two-target scenarios: healthy on ECS and on the swarm. */
const healthyOnBoth: ScenarioStep = {
  tag: 'v1.0.0',
  rollout: 'healthy',
  expect: 'Deployed',
  swarm: { rollout: 'healthy', expect: 'Deployed' },
  note: 'healthy after 30 s',
};

/** The sandbox's scenarios; `demo` is what `npm run demo` plays. */
export const scenarios: Record<string, SandboxScenario> = {
  demo: {
    summary:
      'each push goes to ECS (web/prod) and to a Docker Swarm (web/edge); v1.0.0 rolls out healthy on both, v1.1.0 crash-loops on ECS and Gantry puts v1.0.0 back there',
    app: app(),
    swarm: swarmEdge,
    steps: [
      healthyOnBoth,
      {
        tag: 'v1.1.0',
        rollout: 'crashLoop',
        expect: 'RolledBack',
        swarm: { rollout: 'healthy', expect: 'Deployed' },
        note: 'exits with code 1 after start on ECS',
      },
    ],
  },
  swarm: {
    summary:
      'a Docker Swarm target: v1.0.0 rolls out; v1.1.0 crash-loops, Swarm rolls it back itself and Gantry records it without a second rollback',
    app: app(),
    swarm: swarmEdge,
    steps: [
      healthyOnBoth,
      {
        tag: 'v1.1.0',
        rollout: 'healthy',
        expect: 'Deployed',
        swarm: { rollout: { kind: 'crashLoop', exitCode: 3 }, expect: 'RolledBack' },
        note: 'exits with code 3 on the swarm',
      },
    ],
  },
  healthy: {
    summary: 'one healthy rollout',
    app: app(),
    steps: [{ tag: 'v1.0.0', rollout: 'healthy', expect: 'Deployed', note: 'healthy after 30 s' }],
  },
  'failing-rollout': {
    summary:
      "ECS's circuit breaker fails the rollout and rolls back itself; Gantry follows it, records the cause",
    app: app({
      circuitBreaker: { enable: true, rollback: true },
      config: { health: { timeoutSeconds: 900, maxFailedTasks: 50 } },
    }),
    steps: [
      { tag: 'v1.0.0', rollout: 'healthy', expect: 'Deployed', note: 'healthy' },
      {
        tag: 'v1.1.0',
        rollout: 'crashLoop',
        expect: 'RolledBack',
        note: 'crash-loops until the breaker trips',
      },
    ],
  },
  slow: {
    summary:
      'a slow rollout (15 simulated minutes) that still fits the timeout: same number of state transitions',
    app: app({ config: { health: { timeoutSeconds: 1800, maxFailedTasks: 2 } } }),
    steps: [{ tag: 'v1.0.0', rollout: 'slow', expect: 'Deployed', note: 'healthy after 900 s' }],
  },
  'stuck-rollout': {
    summary: 'a rollout that never stabilises: the timeout rolls it back',
    app: app({ config: { health: { timeoutSeconds: 300, maxFailedTasks: 2 } } }),
    steps: [
      { tag: 'v1.0.0', rollout: 'healthy', expect: 'Deployed', note: 'healthy' },
      { tag: 'v1.1.0', rollout: 'neverStable', expect: 'RolledBack', note: 'tasks never start' },
    ],
  },
  'lost-event': {
    summary: 'EventBridge loses the completion event: the timeout fallback reads the service and carries on',
    app: app({ config: { health: { timeoutSeconds: 120, maxFailedTasks: 2 } } }),
    steps: [
      {
        tag: 'v1.0.0',
        rollout: 'healthy',
        expect: 'Deployed',
        note: 'completion event dropped',
        fault: (sandbox) => {
          sandbox.emulator.ecs.dropEvents(
            (event) => (event.detail as { eventName?: string }).eventName === 'SERVICE_DEPLOYMENT_COMPLETED',
          );
        },
      },
    ],
  },
  throttling: {
    summary: 'Parameter Store and ECS throttle and fail: retries with backoff carry the deploy through',
    app: app(),
    steps: [
      {
        tag: 'v1.0.0',
        rollout: 'healthy',
        expect: 'Deployed',
        note: '5 throttled PutParameter, 4 failed UpdateService',
        fault: (sandbox) => {
          sandbox.emulator.faults.add({
            service: 'ssm',
            operation: 'PutParameter',
            times: 5,
            error: 'ThrottlingException',
          });
          sandbox.emulator.faults.add({
            service: 'ecs',
            operation: 'UpdateService',
            times: 4,
            error: 'ServerException',
            status: 500,
          });
        },
      },
    ],
  },
  canary: {
    summary:
      'a gated canary: v1.0.0 passes every gate; v1.1.0 meets its gate alarm in ALARM at the first gate and Gantry answers ROLLBACK',
    speed: 200,
    app: app(
      stagedService({
        strategy: 'CANARY',
        canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 5 },
        bakeTimeInMinutes: 10,
      }),
    ),
    steps: [
      {
        tag: 'v1.0.0',
        rollout: 'healthy',
        expect: 'Deployed',
        note: 'alarm web-5xx OK: CONTINUE at each gate',
        fault: (sandbox) => sandbox.emulator.cloudwatch.setAlarm('web-5xx', 'OK'),
      },
      {
        tag: 'v1.1.0',
        rollout: 'healthy',
        expect: 'RolledBack',
        note: 'alarm web-5xx in ALARM: ROLLBACK at the first gate',
        fault: (sandbox) =>
          sandbox.emulator.cloudwatch.setAlarm('web-5xx', 'ALARM', 'Threshold Crossed: 5xx above 1%'),
      },
    ],
  },
  linear: {
    summary: 'a gated linear deployment of 10 traffic steps, every gate passed',
    speed: 500,
    app: app(
      stagedService({
        strategy: 'LINEAR',
        linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: 2 },
        bakeTimeInMinutes: 5,
      }),
    ),
    steps: [
      {
        tag: 'v1.0.0',
        rollout: 'healthy',
        expect: 'Deployed',
        note: '12 gates: after test traffic, before each step, after production traffic',
        fault: (sandbox) => sandbox.emulator.cloudwatch.setAlarm('web-5xx', 'OK'),
      },
    ],
  },
  'blue-green': {
    summary: 'a gated blue/green deployment whose new tasks crash during bake: Gantry stops it with ROLLBACK',
    speed: 200,
    app: app(stagedService({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 30 })),
    steps: [
      {
        tag: 'v1.0.0',
        rollout: { kind: 'healthy', crashFromStage: 'BAKE_TIME' },
        expect: 'RolledBack',
        note: 'healthy until the bake, then exits with code 1',
        fault: (sandbox) => sandbox.emulator.cloudwatch.setAlarm('web-5xx', 'OK'),
      },
    ],
  },
};

/** The state an execution ended in: Deployed, RolledBack, Superseded, or a failure state. */
export function endState(execution: ExecutionDescription): string {
  return execution.states.at(-1) ?? execution.status;
}
