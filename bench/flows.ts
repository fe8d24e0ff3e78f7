import type { Scenario } from '../sandbox/emulator/index.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';

export interface TransitionFigures {
  rolloutSeconds: number;
  transitions: number;
  status: string;
}

export interface LatencyFigures {
  scenario: string;
  /** Real milliseconds from the rollout's end event reaching the bus to the next state starting. */
  resumeMs?: number;
  /** Simulated seconds from the N-th failed task stopping (or ECS failing the deployment) to the Rollback state starting. */
  failureToRollbackSeconds?: number;
}

/** Happy deploys whose rollouts take `rolloutSeconds`; counts state transitions of each. */
export async function measureTransitions(
  sandbox: Sandbox,
  rolloutSeconds: number[],
): Promise<TransitionFigures[]> {
  const figures: TransitionFigures[] = [];
  for (const [index, seconds] of rolloutSeconds.entries()) {
    const app = `transitions${index}`;
    sandbox.seedApp({
      app,
      env: 'prod',
      repository: app,
      config: { health: { timeoutSeconds: 3600, maxFailedTasks: 2 } },
    });
    const { digest } = await sandbox.push({
      repository: app,
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: seconds },
    });
    await sandbox.idle();
    const execution = sandbox.executionFor(digest);
    figures.push({
      rolloutSeconds: seconds,
      transitions: execution?.states.length ?? -1,
      status: execution?.status ?? 'none',
    });
  }
  return figures;
}

/** How fast Gantry reacts: rollout end → resume (real ms), N-th failed task → rollback (simulated s). */
export async function measureLatencies(sandbox: Sandbox): Promise<LatencyFigures[]> {
  const cases: { scenario: string; rollout: Scenario; circuitBreaker?: boolean }[] = [
    { scenario: 'healthy', rollout: 'healthy' },
    { scenario: 'slow', rollout: { kind: 'slow', stableAfterSeconds: 120 } },
    { scenario: 'crashLoop', rollout: 'crashLoop' },
    { scenario: 'crashLoop + circuit breaker', rollout: 'crashLoop', circuitBreaker: true },
  ];
  // Keyed by service name: each case seeds a service of its own.
  const endEvents = new Map<string, number>();
  const failedTaskTimes = new Map<string, number[]>();
  const failedDeploymentTimes = new Map<string, number>();
  sandbox.emulator.onEvent((event) => {
    const detail = event.detail as { eventName?: string; group?: string; stopCode?: string };
    if (detail.eventName === 'SERVICE_DEPLOYMENT_COMPLETED') {
      endEvents.set(event.resources[0]?.split('/').pop() ?? '', performance.now());
    }
    if (detail.eventName === 'SERVICE_DEPLOYMENT_FAILED') {
      failedDeploymentTimes.set(event.resources[0]?.split('/').pop() ?? '', sandbox.emulator.clock.now());
    }
    if (detail.stopCode === 'EssentialContainerExited' && detail.group) {
      const service = detail.group.replace('service:', '');
      failedTaskTimes.set(service, [...(failedTaskTimes.get(service) ?? []), sandbox.emulator.clock.now()]);
    }
  });
  const entered = new Map<string, { state: string; realMs: number; simulatedMs: number }[]>();
  sandbox.stepFunctions.hooks.observe = ({ executionArn, state }) => {
    entered.set(executionArn, [
      ...(entered.get(executionArn) ?? []),
      { state, realMs: performance.now(), simulatedMs: sandbox.emulator.clock.now() },
    ]);
  };
  try {
    const figures: LatencyFigures[] = [];
    for (const [index, { scenario, rollout, circuitBreaker }] of cases.entries()) {
      const app = `latency${index}`;
      sandbox.seedApp({
        app,
        env: 'prod',
        repository: app,
        ...(circuitBreaker && { circuitBreaker: { enable: true, rollback: true } }),
        config: { health: { timeoutSeconds: 900, maxFailedTasks: circuitBreaker ? 50 : 2 } },
      });
      const { digest } = await sandbox.push({ repository: app, tag: 'v1.0.0', scenario: rollout });
      await sandbox.idle();
      const execution = sandbox.executionFor(digest);
      const steps = entered.get(execution?.executionArn ?? '') ?? [];
      const ended = endEvents.get(app);
      const resumed = steps.find((step) => step.state === 'RecordRelease');
      const rollback = steps.find((step) => step.state === 'Rollback');
      // The N-th failed task, N being the app's maxFailedTasks (2); with the breaker, ECS's FAILED event.
      const nth = circuitBreaker ? failedDeploymentTimes.get(app) : (failedTaskTimes.get(app) ?? [])[1];
      figures.push({
        scenario,
        ...(ended !== undefined && resumed && { resumeMs: resumed.realMs - ended }),
        ...(rollback &&
          nth !== undefined && { failureToRollbackSeconds: (rollback.simulatedMs - nth) / 1000 }),
      });
    }
    return figures;
  } finally {
    sandbox.stepFunctions.hooks.observe = undefined;
  }
}
