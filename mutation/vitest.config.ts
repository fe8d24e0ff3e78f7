import { defineConfig } from 'vitest/config';
import base from '../vitest.config.ts';

/**
 * The vitest config Stryker runs (`npm run mutation`): the project's, with `include` narrowed to
 * the tests of the module under mutation, which `mutation/run.ts` passes in the environment
 * (Stryker's workers inherit it). Narrowing here rather than with Stryker's `testFiles` keeps
 * module-level mutants honest (stryker-js#6144). `include` is replaced, not merged: vitest's
 * `mergeConfig` would concatenate it with the project's.
 */
const tests = process.env.GANTRY_MUTATION_TESTS;
if (tests === undefined || tests === '') {
  throw new Error('GANTRY_MUTATION_TESTS is not set: run mutation testing with `npm run mutation`');
}

export default defineConfig({
  ...base,
  // No Docker lab: the unit tests under mutation never reach a real engine, and thousands of
  // mutant runs must not each wait for a daemon.
  test: { ...base.test, globalSetup: [], include: tests.split(',') },
});
