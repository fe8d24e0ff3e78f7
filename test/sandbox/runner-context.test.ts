import { describe, expect, it } from 'vitest';
import { lambdaContext } from '../../sandbox/runner.ts';

describe('sandbox Lambda context', () => {
  // middy fails an invocation with TimeoutError once the context's remaining time runs out, on a
  // real timer (imported from node:timers, which fake timers leave alone): the remaining time a
  // sandbox invocation starts with is what decides whether a loaded machine can time it out.
  it('gives an invocation Lambda’s longest timeout, not the functions’ 30 s, as its real-time hang guard', () => {
    // Prepare
    const context = lambdaContext('acquireLock');

    // Act
    const remainingMs = context.getRemainingTimeInMillis();

    // Assess: 900 s, Lambda's maximum (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
    expect(remainingMs).toBeGreaterThan(899_000);
  });
});
