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

  it('acts on a Rollback Requested put on the Gantry bus, never on one put on the default bus', async () => {
    // Prepare: two releases, so there is one to roll back to.
    sandbox.seedApp({ app: 'trusted', env: 'prod', repository: 'trusted' });
    await sandbox.push({ repository: 'trusted', tag: 'v1.0.0' });
    await sandbox.idle();
    await sandbox.push({ repository: 'trusted', tag: 'v1.1.0' });
    await sandbox.idle();
    const request = (id: string) => ({
      version: '0',
      id,
      'detail-type': 'Rollback Requested',
      source: 'gantry',
      account: '123456789012',
      // Requested now, on the simulated clock: a request older than the live release stands down.
      time: new Date(sandbox.emulator.clock.now()).toISOString(),
      region: 'eu-west-1',
      resources: [],
      detail: { app: 'trusted', env: 'prod', reason: 'bad release' },
    });

    // Act
    const onDefault = await sandbox.bus.publish(request('6b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b'));
    await sandbox.idle();
    const releaseAfterDefault = sandbox.release('trusted', 'prod');
    const onGantry = await sandbox.bus.publish(
      request('7c1f5a3b-2d4e-4f6a-9b0c-1d2e3f4a5b6c'),
      sandbox.gantryBus,
    );
    await sandbox.idle();

    // Assess
    expect(onDefault).toEqual([]);
    expect(releaseAfterDefault?.kind).toBe('release');
    expect(onGantry.map((delivery) => delivery.functionKey)).toEqual(['onRollbackRequested']);
    expect(sandbox.release('trusted', 'prod')?.kind).toBe('rollback');
  });
});
