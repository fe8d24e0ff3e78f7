import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runQuotaScenario, type ScenarioFigures, scenarioSizes } from '../../bench/scale.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

/**
 * The bench's quota scenario at reduced size (`npm run bench -- scale` runs 1,000 app/environments):
 * 100 app/environments over 50 repositories, pushes ramped from 10 to 60 a minute over two
 * simulated minutes, a burst of 30 pushes within a second, one push in ten delivered twice, with
 * AWS's default quotas on (Parameter Store, Step Functions). Assertions hold on any machine: they
 * count executions and calls, never time.
 */
describe('routing at fleet scale under default quotas (sandbox)', () => {
  let sandbox: Sandbox;
  let figures: ScenarioFigures;
  const options = scenarioSizes.reduced;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 30 });
    figures = await runQuotaScenario(sandbox, options);
  }, 300_000);
  afterAll(async () => {
    await sandbox.close();
  });

  it('starts exactly one execution per app/environment and pushed digest: none lost, duplicates dropped', () => {
    expect(figures.deliveries).toBeGreaterThan(figures.pushes);
    expect(figures.started).toBe(figures.requested);
  });

  it('routes each invocation with one index read, one GetParameters and a StartExecution per app/environment', () => {
    // Fan-out 2: two names each, one GetParameters call. Throttled attempts are the SDK's retries;
    // an invocation that failed is run again by Lambda's asynchronous retry, with one index read.
    const routing = sandbox.emulator.calls.filter(
      (call) => call.caller === 'onImagePushed' && call.error !== 'ThrottlingException',
    );
    const count = (operation: string) => routing.filter((call) => call.operation === operation).length;
    const invocations = count('GetItem');
    expect(invocations).toBeGreaterThanOrEqual(figures.deliveries);
    expect(count('GetParametersByPath')).toBe(0);
    expect(count('GetParameters')).toBeLessThanOrEqual(invocations);
    expect(count('StartExecution')).toBeLessThanOrEqual(invocations * 2);
    expect(routing.length).toBe(invocations + count('GetParameters') + count('StartExecution'));
  });
});
