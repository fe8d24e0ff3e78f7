import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runQuotaScenario, type ScenarioFigures, scenarioSizes, seededRandom } from '../../bench/scale.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

/**
 * The bench's quota scenario at reduced size (`npm run bench -- scale` runs 1,000 app/environments):
 * 100 app/environments over 50 repositories, pushes ramped from 10 to 60 a minute over two
 * simulated minutes, a burst of 30 pushes within a second, one push in ten delivered twice, with
 * AWS's default quotas on (Parameter Store, Step Functions). The sandbox runs on virtual time
 * (simulated time moves only when its work has caught up), so the quotas meet the load the
 * scenario asks for on any machine, and the retries (the state machine's and the SDK's) back off
 * on the simulated clock as on AWS. Assertions count executions and calls, never time.
 */
describe('routing at fleet scale under default quotas (sandbox)', () => {
  let sandbox: Sandbox;
  let figures: ScenarioFigures;
  const options = scenarioSizes.reduced;

  beforeAll(async () => {
    sandbox = await startSandbox({ time: 'virtual', random: seededRandom(5) });
    figures = await runQuotaScenario(sandbox, options);
  }, 300_000);
  afterAll(async () => {
    await sandbox.close();
  });

  it('starts exactly one execution per app/environment and pushed digest: none lost, duplicates dropped', () => {
    expect(figures.deliveries).toBeGreaterThan(figures.pushes);
    expect(figures.started).toBe(figures.requested);
  });

  it('ends every execution deployed or superseded: none failed, none ran out of retries', () => {
    expect(Object.keys(figures.outcomes).sort()).toEqual(['Deployed', 'Superseded']);
  });

  it("leaves every app/environment on its repository's newest push (to the second of the push event)", () => {
    expect(figures.notNewest).toEqual([]);
  });

  it('throttles Parameter Store under the burst, so the retries were exercised', () => {
    expect(figures.throttled['ssm:PutParameter'] ?? 0).toBeGreaterThan(0);
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
