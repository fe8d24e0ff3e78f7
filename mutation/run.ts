import { parseArgs } from 'node:util';
import type { LogLevel, MutantResult } from '@stryker-mutator/api/core';
import { Stryker } from '@stryker-mutator/core';
import { type MutationModuleName, mutationModules } from './modules.ts';

/**
 * `npm run mutation [-- --module <name> …]`: Stryker with its vitest runner over the core modules,
 * one module at a time, each against its own tests (mutation/modules.ts). Not part of `npm test`:
 * it takes minutes per module. HTML reports land in reports/mutation/ (git-ignored).
 */
const { values } = parseArgs({
  options: { module: { type: 'string', multiple: true }, concurrency: { type: 'string' } },
  strict: true,
});
const known = Object.keys(mutationModules) as MutationModuleName[];
const wanted = (values.module ?? []).flatMap((name) => name.split(','));
const unknown = wanted.filter((name) => !known.includes(name as MutationModuleName));
if (unknown.length > 0) {
  console.error(`unknown module(s): ${unknown.join(', ')}; known: ${known.join(', ')}`);
  process.exit(2);
}
const selected = wanted.length === 0 ? known : (wanted as MutationModuleName[]);

const rows: { module: string; score: string; detected: number; survived: number; 'no coverage': number }[] =
  [];
for (const name of selected) {
  const { mutate, tests } = mutationModules[name];
  // Stryker's workers inherit the environment: mutation/vitest.config.ts reads the tests from it.
  process.env.GANTRY_MUTATION_TESTS = tests.join(',');
  const stryker = new Stryker({
    mutate: [mutate],
    testRunner: 'vitest',
    vitest: { configFile: 'mutation/vitest.config.ts' },
    // TypeScript 7 has no JS API: no type-checker plugin, and no tsconfig for Stryker to rewrite.
    checkers: [],
    tsconfigFile: '',
    coverageAnalysis: 'perTest',
    reporters: ['html', 'progress-append-only'],
    htmlReporter: { fileName: `reports/mutation/${name}.html` },
    // Stryker's own log on the console only: nothing written into the worktree but the report.
    fileLogLevel: 'off' as LogLevel, // a const enum: verbatimModuleSyntax cannot import its value
    // Test runner processes; Stryker's default follows the cores, `--concurrency 1` spares a busy machine.
    ...(values.concurrency === undefined ? {} : { concurrency: Number(values.concurrency) }),
  });
  const results = await stryker.runMutationTest();
  rows.push({ module: name, ...tally(results) });
}
console.table(rows);

/** Stryker's mutation score: detected (killed, timed out) over valid (detected, survived, not covered). */
function tally(results: MutantResult[]) {
  const count = (...statuses: string[]) => results.filter((r) => statuses.includes(r.status)).length;
  const detected = count('Killed', 'Timeout');
  const undetected = count('Survived', 'NoCoverage');
  const score = detected + undetected === 0 ? Number.NaN : (100 * detected) / (detected + undetected);
  return {
    score: `${score.toFixed(1)}%`,
    detected,
    survived: count('Survived'),
    'no coverage': count('NoCoverage'),
  };
}
