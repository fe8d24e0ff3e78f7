import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, describe, expect, it } from 'vitest';
import { rebuildConfigIndexes } from '../../functions/src/repository-index/config-change.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

/**
 * What routing a rollback trigger costs onRollbackRequested, counted by the sandbox's emulator
 * under the stack's roles: an alarm reads the alarm index and the configs it names, a Rollback
 * Requested event reads its own config and live release by name. Neither grows with the fleet.
 */
describe('routing rollback triggers at fleet scale (sandbox)', () => {
  let sandbox: Sandbox | undefined;

  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
  });

  /**
   * `size` app/environments (`app-<i>/prod`, each listing alarm `app-<i>-5xx`), indexed as the
   * reconciler's first run would; then one alarm and one request: onRollbackRequested's calls for
   * each, by API.
   */
  async function routingCalls(size: number) {
    const started = await startSandbox({ speed: 200 });
    sandbox = started;
    for (let i = 0; i < size; i++) {
      started.seedApp({
        app: `app-${i}`,
        env: 'prod',
        repository: `repo-${i}`,
        desiredCount: 1,
        config: { rollbackAlarms: [`app-${i}-5xx`] },
      });
    }
    // Imported here, after the sandbox has set the log level the handlers' logger reads at import.
    const { cachedConfigSource } = await import('../../functions/handlers/config-source.ts');
    await rebuildConfigIndexes({
      table: {
        dynamodb: new DynamoDBClient(started.emulator.clientConfig),
        tableName: started.coordinationTable,
      },
      configSource: cachedConfigSource(
        new SSMClient({ ...started.emulator.clientConfig, retryMode: 'adaptive', maxAttempts: 20 }),
        0,
      ),
      parameterPrefix: started.parameterPrefix,
    });
    const event = (id: string, detailType: string, detail: object) => ({
      version: '0',
      id,
      'detail-type': detailType,
      source: detailType === 'Rollback Requested' ? 'gantry' : 'aws.cloudwatch',
      account: '123456789012',
      time: new Date(started.emulator.clock.now()).toISOString(),
      region: 'eu-west-1',
      resources: [],
      detail,
    });
    const callsOf = async (publish: () => Promise<unknown>) => {
      await started.idle();
      const from = started.emulator.calls.length;
      await publish();
      await started.idle();
      const counts: Record<string, number> = {};
      for (const call of started.emulator.calls.slice(from)) {
        if (call.caller !== 'onRollbackRequested') continue;
        const api = `${call.service}:${call.operation}${call.error ? ` (${call.error})` : ''}`;
        counts[api] = (counts[api] ?? 0) + 1;
      }
      return counts;
    };
    const alarm = await callsOf(() =>
      started.bus.publish(
        event('5f0a8c1e-0d7b-4c1e-9b7a-3c2d1e0f9a8b', 'CloudWatch Alarm State Change', {
          alarmName: 'app-1-5xx',
          state: { value: 'ALARM', reason: 'threshold crossed' },
        }),
      ),
    );
    const request = await callsOf(() =>
      started.bus.publish(
        event('0c9e1b2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d', 'Rollback Requested', {
          app: 'app-2',
          env: 'prod',
          reason: 'latency',
        }),
        started.gantryBus,
      ),
    );
    return { alarm, request };
  }

  it('makes the same calls per alarm and per request with 3 and with 1,000 app/environments', async () => {
    // Act
    const small = await routingCalls(3);
    await sandbox?.close();
    sandbox = undefined;
    const large = await routingCalls(1000);

    // Assess: an alarm reads its index entry, then the config and release it names; a request
    // reads its config and release by name; each then asks whether a deploy is in flight (GetItem)
    // and starts one rollback.
    expect(small).toEqual({
      alarm: { 'dynamodb:GetItem': 2, 'ssm:GetParameters': 1, 'sfn:StartExecution': 1 },
      request: { 'ssm:GetParameters': 1, 'dynamodb:GetItem': 1, 'sfn:StartExecution': 1 },
    });
    expect(large).toEqual(small);
  }, 120_000);
});
