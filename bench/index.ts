import { startSandbox } from '../sandbox/sandbox.ts';
import { measureBundles, type PricedPackage, pricedPackages } from './bundles.ts';
import { measureLatencies, measureTransitions } from './flows.ts';
import { printScaleFigures } from './scale-report.ts';
import { measureStagedReactions, measureStagedTransitions } from './staged.ts';
import { measureSwarm } from './swarm.ts';

/**
 * `npm run bench`: figures and ratios side by side, all measured in this run. Not a test: the
 * goals are printed next to the figures, and the exit code says whether every goal was met.
 */
const goals: { name: string; met: boolean }[] = [];
const goal = (name: string, met: boolean) => goals.push({ name, met });
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

console.log('Gantry benchmarks (sandbox figures are simulated AWS on loopback)\n');

// `npm run bench -- scale` runs the scale section alone (it takes minutes at full size).
if (process.argv.includes('scale')) {
  await printScaleFigures(goal);
  finish();
}

// One sandbox for every flow figure: handlers bind their SDK clients to it once, at import.
const sandbox = await startSandbox({ speed: 50 });
console.log('1. State transitions of a happy deploy, by rollout length');
const transitions = await measureTransitions(sandbox, [30, 300]);
console.table(
  transitions.map((row) => ({
    'rollout (simulated s)': row.rolloutSeconds,
    transitions: row.transitions,
    status: row.status,
  })),
);
const [short, long] = transitions;
goal('transitions equal for a 10x longer rollout', short?.transitions === long?.transitions);
goal(
  'transitions <= 20',
  transitions.every((row) => row.transitions > 0 && row.transitions <= 20),
);

console.log(
  '\n2. Reaction times (goal: resume <= 1 s real after the end event; rollback <= 5 s simulated after the N-th failed task)',
);
const latencies = await measureLatencies(sandbox);
console.log(
  '\n2b. ECS staged deployments (sandbox strategies model): gated linear deploys by steps and bake; reactions (goal: gate answered <= 1 s real; N-th failed task or alarm -> Rollback <= 5 s simulated)',
);
const staged = await measureStagedTransitions(sandbox, [
  { stepPercent: 20, stepBakeMinutes: 1, bakeMinutes: 5 },
  { stepPercent: 10, stepBakeMinutes: 1, bakeMinutes: 5 },
  { stepPercent: 10, stepBakeMinutes: 10, bakeMinutes: 60 },
]);
console.table(staged);
const stagedReactions = await measureStagedReactions(sandbox);
const swarm = await measureSwarm(sandbox);
await sandbox.close();
console.table(
  stagedReactions.map((row) => ({
    scenario: row.scenario,
    'hook event -> answer sent (real, slowest gate)':
      row.gateToContinueMs === undefined ? '-' : ms(row.gateToContinueMs),
    'trigger -> Rollback (simulated)':
      row.triggerToRollbackSeconds === undefined ? '-' : `${row.triggerToRollbackSeconds.toFixed(1)} s`,
  })),
);
const [, tenShortBake, tenLongBake] = staged;
goal(
  'a 10-step linear deploy: same transitions with a 6x longer bake, all succeeded',
  staged.every((row) => row.status === 'SUCCEEDED') && tenShortBake?.transitions === tenLongBake?.transitions,
);
goal(
  'gate answered <= 1 s after its hook event',
  stagedReactions.some((row) => row.gateToContinueMs !== undefined) &&
    stagedReactions.every((row) => row.gateToContinueMs === undefined || row.gateToContinueMs <= 1000),
);
goal(
  'N-th failed task or alarm -> Rollback <= 5 s (both measured)',
  stagedReactions.every(
    (row) => row.triggerToRollbackSeconds !== undefined && row.triggerToRollbackSeconds <= 5,
  ),
);
console.table(
  latencies.map((row) => ({
    scenario: row.scenario,
    'end event -> resumed (real)': row.resumeMs === undefined ? '-' : ms(row.resumeMs),
    'N-th failure -> Rollback (simulated)':
      row.failureToRollbackSeconds === undefined ? '-' : `${row.failureToRollbackSeconds.toFixed(1)} s`,
  })),
);
const resumes = latencies.flatMap((row) => (row.resumeMs === undefined ? [] : [row.resumeMs]));
const rollbacks = latencies.flatMap((row) =>
  row.failureToRollbackSeconds === undefined ? [] : [row.failureToRollbackSeconds],
);
// A figure that was not measured is a missed goal, not a met one.
goal(
  'resume <= 1 s (healthy and slow measured)',
  resumes.length === 2 && resumes.every((value) => value <= 1000),
);
goal(
  'rollback starts <= 5 s after the N-th failure (both crash cases measured)',
  rollbacks.length === 2 && rollbacks.every((value) => value <= 5),
);

console.log('\n2c. The swarm target (the real agent in process on the Docker Engine API simulator)');
console.table(
  swarm.transitions.map((row) => ({
    'tasks start after (simulated s)': row.startSeconds,
    transitions: row.transitions,
    status: row.status,
  })),
);
console.table([
  { figure: 'order written -> agent updates the service (wake-up)', value: ms(swarm.orderToUpdateMs) },
  {
    figure: `order written -> agent updates the service (no wake-up, backstop ${swarm.backstopSeconds} s)`,
    value: ms(swarm.orderToUpdateWithoutWakeUpMs),
  },
  { figure: 'agent final event -> execution resumed', value: ms(swarm.endToResumedMs) },
]);
console.log(
  '(agent idle RSS and AWS calls per hour: `node --import tsx agent/bench.ts`, on a real Docker Engine; see agent/README.md, "Figures")',
);
const [swarmShort, swarmLong] = swarm.transitions;
goal('swarm: transitions equal for a 10x longer rollout', swarmShort?.transitions === swarmLong?.transitions);
goal(
  'swarm: transitions <= 20',
  swarm.transitions.every((row) => row.transitions > 0 && row.transitions <= 20),
);
goal('swarm: order -> update <= 1 s with the wake-up', swarm.orderToUpdateMs <= 1000);
goal(
  'swarm: order -> update <= the backstop interval without it',
  swarm.orderToUpdateWithoutWakeUpMs <= swarm.backstopSeconds * 1000 + 1000,
);
goal('swarm: agent end event -> resumed <= 1 s', swarm.endToResumedMs <= 1000);

console.log(
  '\n3. Function bundles (as serverless.yml builds them) vs two bundles of the same SDK clients: whole clients minified, and the bare ESM floor',
);
const runs = Number(process.env.BENCH_RUNS ?? 7);
const bundles = await measureBundles(runs);
console.table(
  bundles.map((row) => ({
    function: row.functionKey,
    'SDK clients': row.clients.map((client) => client.replace('client-', '')).join(','),
    bundle: `${kb(row.bundle.bytes)} (${kb(row.bundle.gzipBytes)} gz)`,
    minified: kb(row.minified.bytes),
    bare: kb(row.bare.bytes),
    'size vs minified': `${(row.bundle.bytes / row.minified.bytes).toFixed(2)}x`,
    'size vs bare': `${(row.bundle.bytes / row.bare.bytes).toFixed(2)}x`,
    'cold import (cpu)': `${ms(row.bundle.coldImportMs)} (${ms(row.bundle.coldImportCpuMs)})`,
    'minified import': `${ms(row.minified.coldImportMs)} (${ms(row.minified.coldImportCpuMs)})`,
    'bare import': `${ms(row.bare.coldImportMs)} (${ms(row.bare.coldImportCpuMs)})`,
    'import vs minified': `${row.importRatioToMinified.toFixed(2)}x`,
    'import vs bare': `${row.importRatioToBare.toFixed(2)}x`,
  })),
);
console.log(
  `(cold import: median wall time (CPU time) of ${runs} fresh Node processes, the bundles taking turns; ratios are medians of per-round CPU-time ratios, which load from other processes distorts least)`,
);
console.log(
  '\n4. What the cold import above the bare floor is made of (CPU ms saved when the package is stubbed out)',
);
console.table(
  bundles.map((row) => ({
    function: row.functionKey,
    'above bare': ms(row.bundle.coldImportCpuMs - row.bare.coldImportCpuMs),
    ...Object.fromEntries(
      (Object.keys(pricedPackages) as PricedPackage[]).map((name) => {
        const cost = row.packageCostMs[name];
        return [name, cost === undefined ? '-' : ms(cost)];
      }),
    ),
  })),
);
goal(
  'every bundle smaller than the minified bundle of its whole SDK clients',
  bundles.every((row) => row.bundle.bytes < row.minified.bytes),
);
goal(
  'every cold import <= 1.15x the bare ESM bundle of its SDK clients',
  bundles.every((row) => row.importRatioToBare <= 1.15),
);

await printScaleFigures(goal);
finish();

function finish(): never {
  console.log('\nGoals:');
  for (const { name, met } of goals) console.log(`  ${met ? 'met    ' : 'MISSED '} ${name}`);
  process.exit(goals.every(({ met }) => met) ? 0 : 1);
}
