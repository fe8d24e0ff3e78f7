import type { AppSeed, Sandbox } from '../sandbox/sandbox.ts';
import { stagedConfiguration } from '../sandbox/scenarios.ts';

/**
 * Figures of ECS blue/green, linear and canary deployments driven by Gantry, on the sandbox's
 * strategies model (a simulation built from AWS's documentation, not measured on AWS).
 */
export interface StagedTransitionFigures {
  steps: number;
  stepBakeMinutes: number;
  bakeMinutes: number;
  transitions: number;
  status: string;
}

export interface StagedReactionFigures {
  scenario: string;
  /** Real ms from HOOK_AWAITING_ACTION reaching the bus to the state after DecideGate (the answer sent). */
  gateToContinueMs?: number;
  /** Simulated s from the N-th failed task, or the alarm, to the Rollback state. */
  triggerToRollbackSeconds?: number;
}

function stagedSeed(app: string, configuration: Record<string, unknown>, gated = true): AppSeed {
  return {
    app,
    env: 'prod',
    repository: app,
    deploymentConfiguration: gated
      ? stagedConfiguration(configuration)
      : (configuration as AppSeed['deploymentConfiguration']),
    config: { health: { timeoutSeconds: 600, maxFailedTasks: 2 }, ...(gated && { gates: { alarms: [] } }) },
  };
}

/** Gated linear deploys: transitions by number of steps and by bake length. */
export async function measureStagedTransitions(
  sandbox: Sandbox,
  cases: { stepPercent: number; stepBakeMinutes: number; bakeMinutes: number }[],
): Promise<StagedTransitionFigures[]> {
  const figures: StagedTransitionFigures[] = [];
  for (const [index, { stepPercent, stepBakeMinutes, bakeMinutes }] of cases.entries()) {
    const app = `linear${index}`;
    sandbox.seedApp(
      stagedSeed(app, {
        strategy: 'LINEAR',
        linearConfiguration: { stepPercent, stepBakeTimeInMinutes: stepBakeMinutes },
        bakeTimeInMinutes: bakeMinutes,
      }),
    );
    const { digest } = await sandbox.push({ repository: app, tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();
    const execution = sandbox.executionFor(digest);
    figures.push({
      steps: Math.ceil(100 / stepPercent),
      stepBakeMinutes,
      bakeMinutes,
      transitions: execution?.states.length ?? -1,
      status: execution?.status ?? 'none',
    });
  }
  return figures;
}

/** Gate → answer, and the N-th failed task or an alarm during bake → Rollback. */
export async function measureStagedReactions(sandbox: Sandbox): Promise<StagedReactionFigures[]> {
  const hookEvents: number[] = [];
  const failedTasks = new Map<string, number[]>();
  const unsubscribe = sandbox.emulator.onEvent((event) => {
    const detail = event.detail as { eventName?: string; group?: string; stopCode?: string };
    if (event['detail-type'] === 'ECS Hook State Change' && detail.eventName === 'HOOK_AWAITING_ACTION') {
      hookEvents.push(performance.now());
    }
    if (detail.stopCode === 'EssentialContainerExited' && detail.group) {
      const service = detail.group.replace('service:', '');
      failedTasks.set(service, [...(failedTasks.get(service) ?? []), sandbox.emulator.clock.now()]);
    }
  });
  const entered = new Map<string, { state: string; realMs: number; simulatedMs: number }[]>();
  sandbox.stepFunctions.hooks.observe = ({ executionArn, state }) => {
    entered.set(executionArn, [
      ...(entered.get(executionArn) ?? []),
      { state, realMs: performance.now(), simulatedMs: sandbox.emulator.clock.now() },
    ]);
  };
  const stepsOf = (digest: string) => entered.get(sandbox.executionFor(digest)?.executionArn ?? '') ?? [];
  try {
    const figures: StagedReactionFigures[] = [];

    // A blue/green deploy: its three gates answered, then its tasks crash during bake.
    sandbox.seedApp(stagedSeed('reactbg', { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 30 }));
    hookEvents.length = 0;
    const crashing = await sandbox.push({
      repository: 'reactbg',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', crashFromStage: 'BAKE_TIME' },
    });
    await sandbox.idle();
    const steps = stepsOf(crashing.digest);
    const answered = steps.filter((_, i) => steps[i - 1]?.state === 'DecideGate');
    const gateMs = answered.map((step, i) => step.realMs - (hookEvents[i] ?? step.realMs));
    const rollback = steps.find((step) => step.state === 'Rollback');
    const nth = failedTasks.get('reactbg')?.[1];
    figures.push({
      scenario: 'blue/green, tasks crash during bake',
      ...(gateMs.length > 0 && { gateToContinueMs: Math.max(...gateMs) }),
      ...(rollback && nth !== undefined && { triggerToRollbackSeconds: (rollback.simulatedMs - nth) / 1000 }),
    });

    // A linear deploy in its hour of bake when a rollback alarm fires.
    sandbox.seedApp({
      ...stagedSeed(
        'reactalarm',
        {
          strategy: 'LINEAR',
          linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 },
          bakeTimeInMinutes: 60,
        },
        false,
      ),
      config: { health: { timeoutSeconds: 600, maxFailedTasks: 2 }, rollbackAlarms: ['reactalarm-5xx'] },
    });
    const baking = await sandbox.push({ repository: 'reactalarm', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.elapse(600);
    const alarmAt = sandbox.emulator.clock.now();
    await sandbox.bus.publish({
      version: '0',
      id: '7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b',
      'detail-type': 'CloudWatch Alarm State Change',
      source: 'aws.cloudwatch',
      account: sandbox.emulator.accountId,
      time: new Date(alarmAt).toISOString(),
      region: sandbox.emulator.region,
      resources: [],
      detail: { alarmName: 'reactalarm-5xx', state: { value: 'ALARM', reason: 'threshold crossed' } },
    });
    await sandbox.idle();
    const alarmRollback = stepsOf(baking.digest).find((step) => step.state === 'Rollback');
    figures.push({
      scenario: 'linear, rollback alarm during bake',
      ...(alarmRollback && { triggerToRollbackSeconds: (alarmRollback.simulatedMs - alarmAt) / 1000 }),
    });
    return figures;
  } finally {
    unsubscribe();
    sandbox.stepFunctions.hooks.observe = undefined;
  }
}
