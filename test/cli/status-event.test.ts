import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../cli/main.ts';
import { statusChangedDetailType } from '../../functions/src/status.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

/**
 * Every change of what is live puts one `Release Status Changed` event whose detail is what
 * `gantry status --json` shows for that app/env once the execution ended (real ASL, real handlers).
 */
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ speed: 500 });
});

afterAll(async () => {
  await sandbox?.close();
});

async function statusJson(app: string, env: string): Promise<unknown> {
  let printed = '';
  const code = await run(
    ['--sandbox', '--endpoint', sandbox.emulator.url, '--json', 'status', app, env],
    { out: (text) => (printed += text), err: () => undefined },
    { AWS_ACCESS_KEY_ID: 'sandbox', AWS_SECRET_ACCESS_KEY: 'sandbox' },
  );
  expect(code).toBe(0);
  return JSON.parse(printed);
}

const statusEvents = (app: string) =>
  sandbox.emulator.events.history.filter(
    (event) =>
      event.source === 'gantry' &&
      event['detail-type'] === statusChangedDetailType &&
      (event.detail as { app?: string }).app === app,
  );

// Hang guard, not a speed goal: the deploys run the real state machine on a shared machine.
describe('Release Status Changed', { timeout: 120_000 }, () => {
  it('is put once per deploy, with the detail gantry status shows', async () => {
    // Prepare
    sandbox.seedApp({ app: 'announced', env: 'prod', repository: 'announced' });

    // Act
    await sandbox.push({ repository: 'announced', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    // Assess
    const events = statusEvents('announced');
    expect(events).toHaveLength(1);
    expect(events[0]?.detail).toEqual(await statusJson('announced', 'prod'));
    expect(events[0]?.detail).toMatchObject({
      live: { tag: 'v1.0.0' },
      lastAttempt: { outcome: 'deployed' },
    });
  });

  it('is put once for a rollback, naming what it rolled back from and why', async () => {
    sandbox.seedApp({ app: 'bumpy', env: 'prod', repository: 'bumpy' });
    await sandbox.push({ repository: 'bumpy', tag: 'v1.0.0', scenario: 'healthy' });
    await sandbox.idle();

    await sandbox.push({ repository: 'bumpy', tag: 'v1.1.0', scenario: 'crashLoop' });
    await sandbox.idle();

    const events = statusEvents('bumpy');
    expect(events).toHaveLength(2);
    expect(events[1]?.detail).toEqual(await statusJson('bumpy', 'prod'));
    expect(events[1]?.detail).toHaveProperty(
      'summary',
      expect.stringMatching(/^bumpy\/prod is on v1\.0\.0, rolled back from v1\.1\.0 because 2 tasks stopped/),
    );
  });
});
