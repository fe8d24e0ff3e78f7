import { describe, expect, it } from 'vitest';
import { readDeployDefinition } from '../../sandbox/definition.ts';
import { lambdaContext, withSandboxTimeouts } from '../../sandbox/runner.ts';

// A sandbox invocation's real time counts every other execution's work and the machine's load, so
// the functions' own limits (30 s, a Task's 60 s) become Lambda's maximum, 900 s
// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html): hang guards only.
describe('sandbox Lambda timeouts', () => {
  // middy fails an invocation with TimeoutError once the context's remaining time runs out, on a
  // real timer (imported from node:timers, which fake timers leave alone): the remaining time a
  // sandbox invocation starts with is what decides whether a loaded machine can time it out.
  it('gives an invocation Lambda’s longest timeout, not the functions’ 30 s', () => {
    // Prepare
    const context = lambdaContext('acquireLock');

    // Act
    const remainingMs = context.getRemainingTimeInMillis();

    // Assess
    expect(remainingMs).toBeGreaterThan(899_000);
  });

  it('lets the interpreter time a Lambda task out only after Lambda’s longest timeout', () => {
    // Prepare
    const definition = readDeployDefinition();
    expect(definition.States.ResolveConfig?.TimeoutSeconds).toBe(60);

    // Act
    const runnable = withSandboxTimeouts(definition);

    // Assess
    expect(runnable.States.ResolveConfig?.TimeoutSeconds).toBe(900);
    expect(runnable.States.RecordRelease?.TimeoutSeconds).toBe(900);
    expect(runnable.States.WaitForRollout?.TimeoutSecondsPath).toBeUndefined();
  });
});
