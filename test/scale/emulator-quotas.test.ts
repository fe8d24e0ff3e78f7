import { GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, SFN_API_QUOTAS, SimClock, startEmulator } from '../../sandbox/emulator/index.ts';
import { Params } from '../../sandbox/emulator/protocol.ts';
import { SfnHooks } from '../../sandbox/emulator/sfn.ts';

describe('emulator quotas and Parameter Store events', () => {
  describe('Step Functions API throttling', () => {
    const startExecution = (hooks: SfnHooks) =>
      hooks
        .service()
        .operations.StartExecution?.handle(
          new Params({ stateMachineArn: 'arn:aws:states:eu-west-1:1:stateMachine:m' }, 'StartExecution', 'x'),
        ) as Promise<unknown>;

    it('throttles StartExecution past its bucket and refills it at its rate on the simulated clock', async () => {
      // Prepare: Ireland has the larger bucket, 1,300 calls, refilled at 300 a second.
      const clock = new SimClock(0);
      const hooks = new SfnHooks();
      hooks.useQuotas('eu-west-1', () => clock.now());
      hooks.setHandlers({
        startExecution: () => ({ executionArn: 'arn', startDate: new Date(0) }),
      } as never);
      const { bucketSize, refillPerSecond } = SFN_API_QUOTAS.large.StartExecution;
      for (let i = 0; i < bucketSize; i++) await startExecution(hooks);

      // Act
      const throttled = startExecution(hooks);
      await clock.advance(1000);
      const refilled = await Promise.allSettled(
        Array.from({ length: refillPerSecond + 1 }, () => startExecution(hooks)),
      );

      // Assess
      await expect(throttled).rejects.toThrow(expect.objectContaining({ name: 'ThrottlingException' }));
      expect(refilled.filter(({ status }) => status === 'fulfilled')).toHaveLength(refillPerSecond);
      expect(hooks.throttledCalls().StartExecution).toBe(2);
    });

    it('uses the smaller buckets outside the three large regions', async () => {
      // Prepare
      const hooks = new SfnHooks();
      hooks.useQuotas('eu-central-1', () => 0);
      hooks.setHandlers({ startExecution: () => ({ executionArn: 'arn', startDate: new Date(0) }) } as never);

      // Act
      const results = await Promise.allSettled(
        Array.from({ length: SFN_API_QUOTAS.other.StartExecution.bucketSize + 1 }, () =>
          startExecution(hooks),
        ),
      );

      // Assess
      expect(results.filter(({ status }) => status === 'rejected')).toHaveLength(1);
    });
  });

  describe('Parameter Store', () => {
    let emulator: Emulator;
    let ssm: SSMClient;

    beforeEach(async () => {
      emulator = await startEmulator({ region: 'eu-west-1', accountId: '123456789012', quotas: 'off' });
      ssm = new SSMClient(emulator.clientConfig);
    });

    afterEach(async () => {
      await emulator.close();
    });

    it('answers GetParameters with the names found, alphabetically, and the others as invalid', async () => {
      // Prepare
      emulator.ssm.put('/gantry/b/prod/config', 'b');
      emulator.ssm.put('/gantry/a/prod/config', 'a');

      // Act
      const answer = await ssm.send(
        new GetParametersCommand({
          Names: ['/gantry/b/prod/config', '/gantry/x/prod/config', '/gantry/a/prod/config'],
        }),
      );

      // Assess
      expect(answer.Parameters?.map(({ Name, Value }) => `${Name}=${Value}`)).toEqual([
        '/gantry/a/prod/config=a',
        '/gantry/b/prod/config=b',
      ]);
      expect(answer.InvalidParameters).toEqual(['/gantry/x/prod/config']);
    });

    it('refuses GetParameters for more than ten names', async () => {
      const names = Array.from({ length: 11 }, (_, i) => `/gantry/a${i}/prod/config`);

      await expect(ssm.send(new GetParametersCommand({ Names: names }))).rejects.toThrow(
        expect.objectContaining({ name: 'ValidationException' }),
      );
    });

    it('puts a Parameter Store Change event for a create and an update made through the API', async () => {
      // Act
      for (const value of ['v1', 'v2']) {
        await ssm.send(
          new PutParameterCommand({
            Name: '/gantry/web/prod/config',
            Value: value,
            Type: 'String',
            Overwrite: true,
          }),
        );
      }
      await emulator.clock.advance(0);

      // Assess
      const changes = emulator.events.history.filter(
        (event) => event['detail-type'] === 'Parameter Store Change',
      );
      expect(
        changes.map((event) => ({ source: event.source, detail: event.detail, resources: event.resources })),
      ).toEqual(
        ['Create', 'Update'].map((operation) => ({
          source: 'aws.ssm',
          detail: { operation, name: '/gantry/web/prod/config', type: 'String' },
          resources: ['arn:aws:ssm:eu-west-1:123456789012:parameter/gantry/web/prod/config'],
        })),
      );
    });
  });
});
