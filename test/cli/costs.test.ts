import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../cli/main.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { seedDemoFleet } from '../../sandbox/serve.ts';

/**
 * What each command costs in AWS API calls (README, "The CLI"), counted by the CLI's own clients
 * (one count per call, before the SDK's retries) against an in-process sandbox with the demo fleet.
 */
let sandbox: Sandbox;
let files: string;

beforeAll(async () => {
  sandbox = await startSandbox({ speed: 500 });
  await seedDemoFleet(sandbox);
  files = await mkdtemp(join(tmpdir(), 'gantry-costs-'));
}, 120_000);

afterAll(async () => {
  await sandbox?.close();
  if (files) await rm(files, { recursive: true, force: true });
});

/** Runs one command line in-process; resolves with its exit code and the calls it made, by operation. */
async function costOf(...args: string[]) {
  const calls: string[] = [];
  const code = await run(
    ['--sandbox', '--endpoint', sandbox.emulator.url, ...args],
    { out: () => undefined, err: () => undefined },
    { AWS_ACCESS_KEY_ID: 'sandbox', AWS_SECRET_ACCESS_KEY: 'sandbox' },
    { onCall: ({ command }) => calls.push(command.replace(/Command$/, '')) },
  );
  const counts: Record<string, number> = {};
  for (const call of calls) counts[call] = (counts[call] ?? 0) + 1;
  return { code, counts, total: calls.length };
}

// Hang guard, not a speed goal: the deploys run the real state machine on a shared machine.
describe('what each command costs in AWS calls', { timeout: 120_000 }, () => {
  it('status of one app/env: 1 GetParameter, 1 Query, 2 GetItem', async () => {
    expect(await costOf('status', 'web', 'prod')).toEqual({
      code: 0,
      counts: { GetParameter: 1, Query: 1, GetItem: 2 },
      total: 4,
    });
  });

  it('status of everything: one GetParametersByPath page per 10 parameters, then 4 per app/env', async () => {
    // 4 app/envs, each with a config and a release parameter: 8 parameters, one page.
    expect(await costOf('status')).toMatchObject({
      code: 0,
      counts: { GetParametersByPath: 1, GetParameter: 4, Query: 4, GetItem: 8 },
    });
  });

  it('history: 1 Query', async () => {
    expect(await costOf('history', 'web', 'prod')).toEqual({ code: 0, counts: { Query: 1 }, total: 1 });
  });

  it('why: 1 Query and 1 DescribeExecution', async () => {
    await costOf('deploy', 'api', 'prod', 'api:v2.1.0', '--wait', '--poll-seconds', '0.05');

    expect(await costOf('why', 'api', 'prod')).toEqual({
      code: 0,
      counts: { Query: 1, DescribeExecution: 1 },
      total: 2,
    });
  });

  it('deploy --wait: 1 StartExecution, 1 GetExecutionHistory per look, 1 DescribeExecution, then the 4 reads of status', async () => {
    const { code, counts } = await costOf(
      'deploy',
      'web',
      'prod',
      'web:v1.2.0',
      '--wait',
      '--poll-seconds',
      '0.05',
    );

    expect(code).toBe(0);
    expect(counts).toMatchObject({
      StartExecution: 1,
      DescribeExecution: 1,
      GetParameter: 1,
      Query: 1,
      GetItem: 2,
    });
    expect(counts.GetExecutionHistory).toBeGreaterThanOrEqual(1);
  });

  it('plan: the config and the target checked on their own, ResolveConfig as the state machine runs it, the preview, one read per secret, the 4 of status', async () => {
    expect(await costOf('plan', 'web', 'prod', 'web:v1.3.0')).toEqual({
      code: 0,
      // GetParameter: the config (its own check), the task definition's one secret, status's
      // release; GetParameters: ResolveConfig's config and live release in one call.
      // DescribeServices: the tag twice, the preview.
      counts: {
        GetParameter: 3,
        GetParameters: 1,
        DescribeServices: 3,
        DescribeImages: 1,
        DescribeTaskDefinition: 1,
        Query: 1,
        GetItem: 2,
      },
      total: 12,
    });
  });

  it('rollback --to: the reads of ResolveConfig, 1 StartExecution', async () => {
    expect(await costOf('rollback', 'shop', 'prod', '--to', 'v3.1.0', '--reason', 'costs')).toEqual({
      code: 0,
      // GetParameters: config and live release in one call; Query: one page of history;
      // DescribeImages and DescribeTaskDefinition: the release can still run.
      counts: {
        GetParameters: 1,
        DescribeServices: 1,
        Query: 1,
        DescribeImages: 1,
        DescribeTaskDefinition: 1,
        StartExecution: 1,
      },
      total: 6,
    });
  });

  it('config validate of a file: no call; config put: 1 GetParameter, 1 PutParameter and the config indexes', async () => {
    const file = join(files, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        repository: 'web',
        target: { type: 'ecs', cluster: 'staging', service: 'web', container: 'app' },
      }),
    );

    expect(await costOf('config', 'validate', 'web', 'staging', file)).toEqual({
      code: 0,
      counts: {},
      total: 0,
    });
    // The index update races onConfigChanged's (the change event): a lost race re-reads once more.
    // One Query per index (repository, alarm) finds the entries the app/environment leaves.
    const put = await costOf('config', 'put', 'web', 'staging', file, '--yes');
    expect(put).toMatchObject({ code: 0, counts: { GetParameter: 1, PutParameter: 1, Query: 2 } });
    expect(put.counts.GetItem).toBeGreaterThanOrEqual(1);
    expect(put.total).toBeLessThanOrEqual(2 + 2 + 2 * (put.counts.GetItem ?? 0));
  });
});
