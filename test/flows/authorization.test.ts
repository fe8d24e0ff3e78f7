import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { callsFor, onlyExecutionOf } from '../support/flows.ts';

/**
 * Flows under the roles the stack grants, enforced by the sandbox as IAM would
 * (sandbox/authorization.ts): a call the role does not allow fails as it would on AWS.
 */
describe('flows under the stack roles (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('deploys a healthy push whose rollout is still in progress when judged, changing the service once', async () => {
    // Prepare: the rollout takes 60 s, so WaitForRollout judges it (ListTasks by startedBy) mid-way.
    sandbox.seedApp({ app: 'judged', env: 'prod', repository: 'judged' });

    // Act
    await sandbox.push({
      repository: 'judged',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 60 },
    });
    await sandbox.idle();

    // Assess
    expect(onlyExecutionOf(sandbox, 'judged').status).toBe('SUCCEEDED');
    expect(sandbox.release('judged', 'prod')?.kind).toBe('release');
    expect(callsFor(sandbox, 'UpdateService', 'judged')).toHaveLength(1);
    expect(sandbox.emulator.calls.filter((call) => call.error === 'AccessDeniedException')).toEqual([]);
  });
});
