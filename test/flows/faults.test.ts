import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Invocation } from '../../sandbox/runner.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { callsFor, executionsOf, onlyExecutionOf } from '../support/flows.ts';

/** Fault injection: every failure must end in a consistent state — release true, lock free, nothing lost. */
describe('deploy flows under faults (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterEach(() => {
    sandbox.stepFunctions.hooks.crash = undefined;
    sandbox.stepFunctions.hooks.observe = undefined;
    sandbox.emulator.faults.clear();
  });
  afterAll(async () => {
    await sandbox.close();
  });

  function expectConsistent(app: string, digest: string) {
    expect(sandbox.release(app, 'prod')?.digest).toBe(digest);
    expect(sandbox.emulator.ssm.get(`/gantry/${app}/prod/lock`)).toBeUndefined();
  }

  it('deploys through Parameter Store throttling', async () => {
    sandbox.seedApp({ app: 'throttled', env: 'prod', repository: 'throttled' });
    // More failures than the SDK's own three attempts: the state machine's retry takes over.
    sandbox.emulator.faults.add({
      service: 'ssm',
      operation: 'PutParameter',
      times: 5,
      error: 'ThrottlingException',
    });

    const { digest } = await sandbox.push({ repository: 'throttled', tag: 'v1.0.0' });
    await sandbox.idle();

    expect(onlyExecutionOf(sandbox, 'throttled').status).toBe('SUCCEEDED');
    expect(sandbox.emulator.faults.pending()).toBe(0);
    expectConsistent('throttled', digest);
  });

  it('deploys through ECS server errors', async () => {
    sandbox.seedApp({ app: 'flaky', env: 'prod', repository: 'flaky' });
    sandbox.emulator.faults.add({
      service: 'ecs',
      operation: 'UpdateService',
      times: 4,
      error: 'ServerException',
      status: 500,
    });

    const { digest } = await sandbox.push({ repository: 'flaky', tag: 'v1.0.0' });
    await sandbox.idle();

    expect(onlyExecutionOf(sandbox, 'flaky').status).toBe('SUCCEEDED');
    expectConsistent('flaky', digest);
  });

  describe('a Lambda crashing once', () => {
    const crashOnce = (state: string) => {
      const crashed = new Set<string>();
      return (invocation: Invocation) => {
        if (invocation.state !== state || crashed.has(invocation.executionArn)) return undefined;
        crashed.add(invocation.executionArn);
        return { name: 'Lambda.Unknown', message: 'The function timed out or ran out of memory (injected)' };
      };
    };

    for (const state of [
      'ResolveConfig',
      'AcquireLock',
      'Deploy',
      'WaitForRollout',
      'RecordRelease',
      'ReleaseLock',
    ]) {
      it(`still deploys when ${state} crashes`, async () => {
        const app = `crash-${state.toLowerCase()}`;
        sandbox.seedApp({ app, env: 'prod', repository: app });
        sandbox.stepFunctions.hooks.crash = crashOnce(state);

        const { digest } = await sandbox.push({ repository: app, tag: 'v1.0.0' });
        await sandbox.idle();

        expect(onlyExecutionOf(sandbox, app).status).toBe('SUCCEEDED');
        expectConsistent(app, digest);
      });
    }

    for (const state of ['Rollback', 'WaitForRollback', 'RecordRollback']) {
      it(`still rolls back and records it when ${state} crashes`, async () => {
        const app = `crash-${state.toLowerCase()}`;
        sandbox.seedApp({ app, env: 'prod', repository: app });
        const v1 = await sandbox.push({ repository: app, tag: 'v1.0.0' });
        await sandbox.idle();
        sandbox.stepFunctions.hooks.crash = crashOnce(state);

        await sandbox.push({ repository: app, tag: 'v2.0.0', scenario: 'crashLoop' });
        await sandbox.idle();

        const failed = executionsOf(sandbox, app).find((execution) => execution.status === 'FAILED');
        expect(failed?.error).toBe('RolloutFailed');
        expect(sandbox.release(app, 'prod')?.kind).toBe('rollback');
        expectConsistent(app, v1.digest);
      });
    }
  });

  it('does not register twice, nor lose the rollback target, when Deploy times out after changing the service', async () => {
    // Prepare: a first deploy (no recorded release), so the rollback target is what Deploy saw.
    sandbox.seedApp({ app: 'retried', env: 'prod', repository: 'retried' });
    let crashed = false;
    sandbox.stepFunctions.hooks.crash = ({ state }) => {
      if (state !== 'Deploy' || crashed) return undefined;
      crashed = true;
      return { name: 'Lambda.Unknown', message: 'timed out after UpdateService (injected)', afterWork: true };
    };

    // Act: the new image crash-loops, so the retried step's rollback target is put to use.
    await sandbox.push({ repository: 'retried', tag: 'v1.0.0', scenario: 'crashLoop' });
    await sandbox.idle();

    // Assess
    expect(crashed).toBe(true);
    expect(callsFor(sandbox, 'RegisterTaskDefinition', 'retried')).toHaveLength(1);
    const release = sandbox.release('retried', 'prod');
    expect(release?.kind).toBe('rollback');
    expect(release?.revision).toMatch(/task-definition\/retried-prod:1$/);
    expect(release?.image).toContain('retried@sha256:');
  });

  it('frees the lock of an execution that died holding it, on its end-of-execution event', async () => {
    // Prepare: a deploy that holds the lock for a long rollout, then dies.
    sandbox.seedApp({ app: 'orphan', env: 'prod', repository: 'orphan' });
    const dead = await deployThenAbort('orphan');

    // Act
    await sandbox.idle();

    // Assess: the rule on Step Functions' status change freed the lock; the next push deploys.
    const ended = sandbox.emulator.events.history.filter(
      (event) =>
        event['detail-type'] === 'Step Functions Execution Status Change' &&
        (event.detail as { executionArn: string; status: string }).executionArn === dead &&
        (event.detail as { status: string }).status === 'ABORTED',
    );
    expect(ended).toHaveLength(1);
    // The documented detail of "Step Functions Execution Status Change".
    expect(Object.keys(ended[0]?.detail as object).sort()).toEqual([
      'cause',
      'error',
      'executionArn',
      'input',
      'inputDetails',
      'name',
      'output',
      'outputDetails',
      'startDate',
      'stateMachineArn',
      'status',
      'stopDate',
    ]);
    expect(ended[0]).toMatchObject({ source: 'aws.states', resources: [dead] });
    expect(lockOf('orphan')).toBeUndefined();
    const v2 = await sandbox.push({ repository: 'orphan', tag: 'v2.0.0' });
    await sandbox.idle();
    expect(executionsOf(sandbox, 'orphan').find((e) => e.executionArn !== dead)?.status).toBe('SUCCEEDED');
    expectConsistent('orphan', v2.digest);
  });

  it('reclaims the lock of an execution that died holding it when its end event is lost', async () => {
    // Prepare: the status-change event never arrives (EventBridge delivery is best effort).
    sandbox.seedApp({ app: 'lost', env: 'prod', repository: 'lost' });
    const undrop = sandbox.emulator.events.dropWhen(
      (event) => event['detail-type'] === 'Step Functions Execution Status Change',
    );
    const dead = await deployThenAbort('lost');
    await sandbox.idle();
    undrop();
    expect(lockOf('lost')).toBeDefined();

    // Act
    const v2 = await sandbox.push({ repository: 'lost', tag: 'v2.0.0' });
    await sandbox.idle();

    // Assess
    expect(executionsOf(sandbox, 'lost').find((e) => e.executionArn !== dead)?.status).toBe('SUCCEEDED');
    expectConsistent('lost', v2.digest);
    expect(lockOf('lost')).toBeUndefined();
  });

  it('resumes a parked request by its fallback timeout when the holder died and its end event is lost', async () => {
    // Prepare: v1 holds the lock, v2 parks behind it; then v1 dies and its event is lost.
    sandbox.seedApp({ app: 'fallback', env: 'prod', repository: 'fallback' });
    const undrop = sandbox.emulator.events.dropWhen(
      (event) => event['detail-type'] === 'Step Functions Execution Status Change',
    );
    const parked = new Promise<void>((resolve) => {
      sandbox.stepFunctions.hooks.observe = ({ state }) => state === 'WaitForLock' && resolve();
    });
    const v1Rolling = new Promise<void>((resolve) => {
      const observe = sandbox.stepFunctions.hooks.observe;
      sandbox.stepFunctions.hooks.observe = (invocation) => {
        observe?.(invocation);
        if (invocation.state === 'WaitForRollout') resolve();
      };
    });
    await sandbox.push({
      repository: 'fallback',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 3600 },
    });
    await v1Rolling;
    await sandbox.elapse(1);
    const v2 = await sandbox.push({ repository: 'fallback', tag: 'v2.0.0' });
    await parked;
    const dead = executionsOf(sandbox, 'fallback')[0]?.executionArn;

    // Act
    sandbox.stepFunctions.abortExecution(dead ?? '');
    await sandbox.idle();
    undrop();

    // Assess: v2 tried again after its fallback (2 × health timeout + 10 min), took over and deployed.
    const waiter = sandbox.executionFor(v2.digest);
    expect(waiter?.status).toBe('SUCCEEDED');
    expect(waiter?.states.filter((state) => state === 'WaitForLock')).toEqual(['WaitForLock']);
    expectConsistent('fallback', v2.digest);
  });

  it("ends as deployed when its lock was taken from it: ReleaseLock's failed condition is no failure", async () => {
    // Prepare: someone deletes the lock while the deploy rolls out (an operator, a takeover).
    sandbox.seedApp({ app: 'unlocked', env: 'prod', repository: 'unlocked' });
    const rolling = new Promise<void>((resolve) => {
      sandbox.stepFunctions.hooks.observe = ({ state }) => state === 'WaitForRollout' && resolve();
    });
    const v1 = await sandbox.push({
      repository: 'unlocked',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 60 },
    });
    await rolling;
    sandbox.emulator.dynamodb.putItem(sandbox.coordinationTable, {
      pk: { S: 'app#unlocked#prod' },
      sk: { S: 'lock' },
      holder: { S: 'arn:someone-else' },
    });

    // Act
    await sandbox.idle();

    // Assess: DynamoDB.ConditionalCheckFailedException was caught by name; nobody to wake.
    const execution = sandbox.executionFor(v1.digest);
    expect(execution?.states.slice(-3)).toEqual(['ReleaseLock', 'HowDidItEnd?', 'Deployed']);
    expect(lockOf('unlocked')).toMatchObject({ holder: { S: 'arn:someone-else' } });
    expect(
      sandbox.emulator.calls.filter(
        (call) => call.operation === 'DeleteItem' && call.error === 'ConditionalCheckFailedException',
      ).length,
    ).toBeGreaterThan(0);
  });

  /** Pushes v1 with a one-hour rollout and aborts its execution while it holds the lock. */
  async function deployThenAbort(app: string): Promise<string> {
    const waiting = new Promise<void>((resolve) => {
      sandbox.stepFunctions.hooks.observe = ({ state }) => state === 'WaitForRollout' && resolve();
    });
    await sandbox.push({
      repository: app,
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 3600 },
    });
    await waiting;
    const [dead] = executionsOf(sandbox, app);
    sandbox.stepFunctions.abortExecution(dead?.executionArn ?? '');
    return dead?.executionArn ?? '';
  }

  function lockOf(app: string) {
    return sandbox.emulator.dynamodb.getItem(sandbox.coordinationTable, {
      pk: { S: `app#${app}#prod` },
      sk: { S: 'lock' },
    });
  }
});
