import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecrPushEvent, type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { executionsOf } from '../support/flows.ts';

/**
 * The entry Lambdas, through the sandbox's bus: an event they cannot act on is answered
 * "ignored: <why>" (no throw, so no retries; no claim of a start), and nothing starts.
 */
describe('entry handlers (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  const alarm = (alarmName: string, time: number) => ({
    version: '0',
    id: `0b7e2c4a-5d6f-4a8b-9c0d-${String(time).slice(-12).padStart(12, '0')}`,
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: new Date(time).toISOString(),
    region: 'eu-west-1',
    resources: [],
    detail: { alarmName, state: { value: 'ALARM', reason: 'threshold crossed' } },
  });

  it('says "ignored: older than the live release" for an alarm raised before the live release, and starts nothing', async () => {
    // Prepare: the alarm went off, then a new release went live before its event was handled.
    sandbox.seedApp({
      app: 'late',
      env: 'prod',
      repository: 'late',
      config: { rollbackAlarms: ['late-5xx'] },
    });
    const raisedAt = sandbox.emulator.clock.now();
    await sandbox.elapse(1);
    await sandbox.push({ repository: 'late', tag: 'v1.0.0' });
    await sandbox.idle();
    const before = executionsOf(sandbox, 'late').length;

    // Act
    const [delivery] = await sandbox.bus.publish(alarm('late-5xx', raisedAt));
    await sandbox.idle();

    // Assess
    expect(delivery).toMatchObject({
      functionKey: 'onRollbackRequested',
      ok: true,
      result: {
        rollbacks: [
          { app: 'late', env: 'prod', started: false, why: 'ignored: older than the live release' },
        ],
      },
    });
    expect(executionsOf(sandbox, 'late')).toHaveLength(before);
  });

  it('answers an alarm nobody lists with "ignored", without throwing', async () => {
    // Act
    const [delivery] = await sandbox.bus.publish(alarm('nobody-lists-this', sandbox.emulator.clock.now()));

    // Assess
    expect(delivery).toMatchObject({
      ok: true,
      result: 'ignored: no app/environment lists alarm nobody-lists-this',
    });
  });

  it('refuses a push whose digest is not sha256 and 64 hex digits at the entry, starting nothing', async () => {
    // Prepare
    sandbox.seedApp({ app: 'odd', env: 'prod', repository: 'odd' });
    const event = ecrPushEvent({
      region: 'eu-west-1',
      accountId: '123456789012',
      repository: 'odd',
      tag: 'v1.0.0',
      digest: 'sha256:not-a-digest',
      time: sandbox.emulator.clock.now(),
    });

    // Act
    const [delivery] = await sandbox.bus.publish(event);
    await sandbox.idle();

    // Assess
    expect(delivery).toMatchObject({
      functionKey: 'onImagePushed',
      ok: true,
      result: 'ignored: digest "sha256:not-a-digest" is not sha256: and 64 hex digits',
    });
    expect(executionsOf(sandbox, 'odd')).toEqual([]);
  });

  it('answers a push event missing its repository with "ignored", without throwing', async () => {
    // Prepare: the rule matches on action-type and result only, so this still reaches the handler.
    const event = ecrPushEvent({
      region: 'eu-west-1',
      accountId: '123456789012',
      repository: 'odd',
      tag: 'v1.0.0',
      digest: `sha256:${'b'.repeat(64)}`,
      time: sandbox.emulator.clock.now(),
    });
    const { 'repository-name': _, ...detail } = event.detail;

    // Act
    const [delivery] = await sandbox.bus.publish({ ...event, detail });

    // Assess
    expect(delivery).toMatchObject({
      functionKey: 'onImagePushed',
      ok: true,
      result: 'ignored: not an ECR Image Action event with a repository and a digest',
    });
  });
});
