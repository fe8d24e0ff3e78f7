import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

/**
 * The handlers are built by their factories with each sandbox's own clients (no process-wide
 * environment), so two sandboxes run side by side in one process, each deploying to its own
 * emulator only.
 */
describe('two sandboxes in one process', () => {
  let first: Sandbox;
  let second: Sandbox;

  beforeAll(async () => {
    first = await startSandbox({ speed: 500 });
    second = await startSandbox({ speed: 500 });
  });
  afterAll(async () => {
    await Promise.all([first?.close(), second?.close()]);
  });

  it('runs a deploy in each without one touching the other', async () => {
    // Prepare: the same app/env in both; the second one's image crash-loops.
    for (const sandbox of [first, second]) sandbox.seedApp({ app: 'twin', env: 'prod', repository: 'twin' });
    await first.push({ repository: 'twin', tag: 'v1.0.0', scenario: 'healthy' });
    await second.push({ repository: 'twin', tag: 'v1.0.0', scenario: 'healthy' });
    await Promise.all([first.idle(), second.idle()]);

    // Act
    const good = await first.push({ repository: 'twin', tag: 'v2.0.0', scenario: 'healthy' });
    const bad = await second.push({ repository: 'twin', tag: 'v2.0.0', scenario: 'crashLoop' });
    await Promise.all([first.idle(), second.idle()]);

    // Assess: each sandbox saw only its own executions and recorded only its own outcome.
    expect(first.stepFunctions.listExecutions()).toHaveLength(2);
    expect(second.stepFunctions.listExecutions()).toHaveLength(2);
    expect(first.release('twin', 'prod')).toMatchObject({ kind: 'release', digest: good.digest });
    expect(second.release('twin', 'prod')).toMatchObject({
      kind: 'rollback',
      rolledBackFrom: { digest: bad.digest },
    });
    expect(first.executionFor(good.digest)?.status).toBe('SUCCEEDED');
    expect(second.executionFor(bad.digest)?.status).toBe('FAILED');
  });
});
