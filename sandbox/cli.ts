import { Listr } from 'listr2';
import { causeDetails } from '../functions/src/deploy-state.ts';
import type { ReleaseRecord } from '../functions/src/release.ts';
import type { ExecutionDescription, StateProgress } from './runner.ts';
import { startSandbox } from './sandbox.ts';
import { endState, scenarios } from './scenarios.ts';

/**
 * `npm run demo` / `npm run sandbox -- <scenario>`: plays a scenario on the sandbox and shows each
 * state as it happens. Everything AWS-side is SIMULATED on loopback; nothing is deployed.
 */
const name = process.argv[2] ?? 'demo';
if (name === 'serve') {
  await (await import('./serve.ts')).serve(process.argv.slice(3));
  process.exit(0);
}
const scenarioList = Object.entries(scenarios)
  .map(([key, known]) => `  ${key.padEnd(16)} ${known.summary}`)
  .join('\n');
if (name === 'list') {
  console.log(`Scenarios (npm run sandbox -- <name>):\n${scenarioList}`);
  process.exit(0);
}
const scenario = scenarios[name];
if (!scenario) {
  console.error(`unknown scenario "${name}". Scenarios:\n${scenarioList}`);
  process.exit(2);
}

const speed = Number(process.env.GANTRY_SANDBOX_SPEED ?? scenario.speed ?? 20);
console.log(
  `Gantry sandbox: a local SIMULATION of ECR, ECS, Parameter Store, EventBridge, SQS, Lightsail, Step Functions and a Docker Engine.`,
);
console.log(`Real deploy ASL, real Lambda handlers, real AWS SDK clients, pointed at a loopback emulator.`);
console.log(`Nothing is deployed anywhere. Simulated time runs ${speed}x faster than real time.\n`);
console.log(`Scenario "${name}": ${scenario.summary}\n`);

const listeners = new Set<(progress: StateProgress) => void>();
const sandbox = await startSandbox({
  speed,
  onProgress: (progress) => {
    for (const listener of listeners) listener(progress);
  },
});
const { app, env } = scenario.app;
sandbox.seedApp(scenario.app);
if (scenario.swarm) await sandbox.seedSwarmApp(scenario.swarm);
const started = Date.now();
const outcomes: {
  tag: string;
  where: string;
  expected: string;
  execution: ExecutionDescription;
  gates: string[];
}[] = [];
/** `app/env (target)` of an execution, from its input and the scenario. */
const whereOf = (execution: ExecutionDescription): string => {
  const input = JSON.parse(execution.input) as { app: string; env: string };
  const target = input.env === scenario.swarm?.env && input.app === scenario.swarm.app ? 'swarm' : 'ecs';
  return `${input.app}/${input.env} (${target})`;
};

await new Listr(
  scenario.steps.map((step) => ({
    title: `push ${scenario.app.repository}:${step.tag} (${step.note})`,
    task: async (_ctx: unknown, task: { output: string; title: string }) => {
      step.fault?.(sandbox);
      const callsBefore = sandbox.emulator.calls.length;
      const pushedAt = sandbox.emulator.clock.now();
      const stamp = () =>
        `+${String(Math.round((sandbox.emulator.clock.now() - pushedAt) / 1000)).padStart(4)}s (simulated)`;
      const watched = new Map<string, string>();
      const listener = (progress: StateProgress) => {
        const where = watched.get(progress.executionArn ?? '');
        if (where === undefined || !progress.state) return;
        if (progress.type === 'entered') task.output = `${stamp()}  ${where}  ${progress.state}`;
        if (progress.type === 'caught')
          task.output = `${stamp()}  ${where}  ${progress.state} failed: caught, handled by the state machine`;
      };
      listeners.add(listener);
      const { digest } = await sandbox.push({
        repository: scenario.app.repository,
        tag: step.tag,
        scenario: step.rollout,
        ...(step.swarm && { swarmScenario: step.swarm.rollout }),
      });
      // One execution per app/env tracking the repository: ECS, and the swarm when there is one.
      const executions = sandbox.stepFunctions.listExecutions().filter((e) => e.input.includes(digest));
      if (executions.length === 0) throw new Error(`no execution started for ${step.tag}`);
      for (const execution of executions) watched.set(execution.executionArn, whereOf(execution));
      const ended = await Promise.all(
        executions.map((execution) => sandbox.stepFunctions.waitForExecution(execution.executionArn)),
      );
      await sandbox.idle();
      listeners.delete(listener);
      // Gates are the ECS strategies' (one staged service per scenario): answered during this step.
      const gates = gateAnswers(sandbox.emulator.calls.slice(callsBefore));
      for (const execution of ended) {
        const where = whereOf(execution);
        const swarmSide = where.endsWith('(swarm)');
        const expected = swarmSide ? (step.swarm?.expect ?? step.expect) : step.expect;
        outcomes.push({ tag: step.tag, where, expected, execution, gates: swarmSide ? [] : gates });
      }
      task.title = `${task.title}: ${ended.map((e) => `${whereOf(e)} ${endState(e)}${e.error ? ` (${e.error})` : ''}`).join(', ')}`;
    },
    rendererOptions: { persistentOutput: true, outputBar: Number.POSITIVE_INFINITY },
  })),
  { concurrent: false, exitOnError: false, rendererOptions: { collapseErrors: false } },
).run();

const release = sandbox.release(app, env);
console.log(`\nSummary after ${((Date.now() - started) / 1000).toFixed(1)} s (real time):`);
for (const { tag, where, execution, gates } of outcomes) {
  const cause = execution.error ? `: ${execution.error}, ${summariseCause(execution.cause)}` : '';
  console.log(
    `  ${tag.padEnd(8)} ${where.padEnd(20)} ${endState(execution)} in ${execution.states.length} state transitions${cause}`,
  );
  if (gates.length > 0) console.log(`           gates answered: ${gates.join(' → ')}`);
}
console.log(`  live release of ${app}/${env}: ${describeRelease(release)}`);
if (scenario.swarm) {
  const { app: swarmApp, env: swarmEnv } = scenario.swarm;
  console.log(
    `  live release of ${swarmApp}/${swarmEnv}: ${describeRelease(sandbox.release(swarmApp, swarmEnv))}`,
  );
}
await sandbox.close();

const surprises = outcomes.filter(({ execution, expected }) => endState(execution) !== expected);
for (const { tag, where, expected, execution } of surprises) {
  console.error(
    `  UNEXPECTED: ${tag} on ${where} ended ${endState(execution)}, the scenario expects ${expected}`,
  );
}
const expectedRuns = scenario.steps.length * (scenario.swarm ? 2 : 1);
process.exit(surprises.length === 0 && outcomes.length === expectedRuns ? 0 : 1);

/**
 * What Gantry answered at each pause hook among these calls, with the stage it paused at
 * (ContinueServiceDeployment calls, matched to the hook events by hookId).
 */
function gateAnswers(calls: typeof sandbox.emulator.calls): string[] {
  const stages = new Map(
    sandbox.emulator.events.history
      .filter((event) => event['detail-type'] === 'ECS Hook State Change')
      .map((event) => {
        const detail = event.detail as { hookId?: string; lifecycleStage?: string };
        return [detail.hookId, detail.lifecycleStage] as const;
      }),
  );
  return calls
    .filter((call) => call.operation === 'ContinueServiceDeployment')
    .map((call) => `${stages.get(String(call.input.hookId)) ?? '?'} ${String(call.input.action)}`);
}

function summariseCause(cause: string | undefined): string {
  return causeDetails({ Error: '', ...(cause !== undefined && { Cause: cause }) }).message;
}

function describeRelease(release: ReleaseRecord | undefined): string {
  if (!release) return 'none recorded';
  const tag = release.tag ?? release.digest.slice(0, 19);
  return `${tag} (${release.kind}${release.cause ? `, cause: ${release.cause.error}: ${release.cause.message}` : ''})`;
}
