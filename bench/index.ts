import { startSandbox } from '../sandbox/sandbox.ts';
import { measureBundles } from './bundles.ts';
import { measureLatencies, measureTransitions } from './flows.ts';

/**
 * `npm run bench`: figures and ratios side by side, all measured in this run. Not a test: the
 * goals are printed next to the figures, and the exit code says whether every goal was met.
 */
const goals: { name: string; met: boolean }[] = [];
const goal = (name: string, met: boolean) => goals.push({ name, met });
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

console.log('Gantry benchmarks (sandbox figures are simulated AWS on loopback)\n');

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
await sandbox.close();
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

console.log(
  '\n3. Function bundles (as serverless.yml builds them) vs a naive esbuild bundle of the same SDK clients',
);
const runs = Number(process.env.BENCH_RUNS ?? 5);
const bundles = await measureBundles(runs);
console.table(
  bundles.map((row) => ({
    function: row.functionKey,
    'SDK clients': row.clients.map((client) => client.replace('client-', '')).join(','),
    bundle: kb(row.bytes),
    gzip: kb(row.gzipBytes),
    'naive bundle': kb(row.naiveBytes),
    'size ratio': `${(row.bytes / row.naiveBytes).toFixed(2)}x`,
    'cold import': ms(row.coldImportMs),
    'naive cold import': ms(row.naiveColdImportMs),
    'import ratio': `${(row.coldImportMs / row.naiveColdImportMs).toFixed(2)}x`,
  })),
);
console.log(
  `(cold import: median of ${runs} fresh Node processes; the function bundle includes zod, middy and Powertools too)`,
);
goal(
  'every bundle smaller than the naive bundle of its SDK clients',
  bundles.every((row) => row.bytes < row.naiveBytes),
);

console.log('\nGoals:');
for (const { name, met } of goals) console.log(`  ${met ? 'met    ' : 'MISSED '} ${name}`);
process.exit(goals.every(({ met }) => met) ? 0 : 1);
