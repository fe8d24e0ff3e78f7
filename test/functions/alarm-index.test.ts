import { GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParameterCommand, GetParametersCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOnConfigChangedHandler } from '../../functions/handlers/on-config-changed.ts';
import type { PushDependencies } from '../../functions/src/image-push.ts';
import { rebuildConfigIndexes } from '../../functions/src/repository-index/config-change.ts';
import {
  alarmIndexPartition,
  appEnvKey,
  readIndexEntry,
  writeIndexEntry,
} from '../../functions/src/repository-index/index-table.ts';
import {
  parseRollbackTrigger,
  type RollbackRequestDependencies,
  type RollbackTrigger,
  requestRollbacks,
} from '../../functions/src/rollback-request.ts';
import { isIgnored } from '../../functions/src/tracking.ts';
import { lambdaContext } from '../../sandbox/runner.ts';
import { loadEvent, webConfig } from '../support/aws-fixtures.ts';
import { answerStartExecution } from '../support/sfn-mock.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const alarmEvent = loadEvent<{ detail: Record<string, unknown> }>('cloudwatch-alarm-state-change.json');
const requestedEvent = loadEvent<{ detail: Record<string, unknown> }>('rollback-requested.json');
const changeEvent = loadEvent<{ detail: Record<string, unknown> }>('parameter-store-change.json');

const sfnMock = mockClient(SFNClient);
let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;
let scans: number;

/** Every config under the prefix, each scan counted. */
const configSource = async (prefix: string) => {
  scans++;
  return ssm.configsUnder(prefix);
};

function rollbackDeps(): RollbackRequestDependencies {
  const sfn = new SFNClient({ region: 'eu-west-1' });
  return {
    sfn,
    ssm: ssm.client,
    configSource,
    parameterPrefix: '/gantry',
    stateMachineArn,
    coordination: { table: table.table, sfn, now: () => new Date('2025-06-03T10:32:00Z') },
  };
}

/** onConfigChanged with the fakes: what the Lambda runs for a Parameter Store Change event. */
function onConfigChanged() {
  const deps: PushDependencies = {
    ssm: ssm.client,
    sfn: new SFNClient({ region: 'eu-west-1' }),
    table: table.table,
    configSource,
    parameterPrefix: '/gantry',
    stateMachineArn,
  };
  const handler = createOnConfigChangedHandler(deps);
  type ChangeEvent = Parameters<typeof handler>[0];
  return (operation: 'Create' | 'Update' | 'Delete', app: string, env: string) =>
    handler(
      {
        ...changeEvent,
        detail: { ...changeEvent.detail, operation, name: `/gantry/${app}/${env}/config` },
      } as ChangeEvent,
      lambdaContext('onConfigChanged'),
    );
}

/** An alarm going to ALARM, named `alarmName`. */
function alarmTrigger(alarmName: string): RollbackTrigger {
  const trigger = parseRollbackTrigger({ ...alarmEvent, detail: { ...alarmEvent.detail, alarmName } });
  if (isIgnored(trigger)) throw new Error(`unexpectedly ignored: ${trigger.ignored}`);
  return trigger;
}

function requestTrigger(app: string, env: string): RollbackTrigger {
  const trigger = parseRollbackTrigger({ ...requestedEvent, detail: { ...requestedEvent.detail, app, env } });
  if (isIgnored(trigger)) throw new Error(`unexpectedly ignored: ${trigger.ignored}`);
  return trigger;
}

/** The app/environments the alarm index lists for an alarm, or undefined when it never saw it. */
const indexed = async (alarm: string) =>
  (await readIndexEntry(table.table, alarm, { consistent: true, index: alarmIndexPartition }))?.appEnvs.map(
    appEnvKey,
  );

/** `count` app/environments, each listing its own alarm `app-<i>-5xx`, configs in Parameter Store. */
function seedFleet(count: number) {
  for (let i = 0; i < count; i++) {
    ssm.put(`/gantry/app-${i}/prod/config`, { ...webConfig, rollbackAlarms: [`app-${i}-5xx`] });
  }
}

/** Every AWS call made since the last reset, by command. */
function callCounts() {
  return {
    getItems: table.mock.commandCalls(GetItemCommand).length,
    putItems: table.mock.commandCalls(PutItemCommand).length,
    getParameter: ssm.mock.commandCalls(GetParameterCommand).length,
    getParameters: ssm.mock.commandCalls(GetParametersCommand).length,
    byPath: scans,
    starts: sfnMock.commandCalls(StartExecutionCommand).length,
  };
}

function resetCallHistory() {
  table.mock.resetHistory();
  ssm.mock.resetHistory();
  sfnMock.resetHistory();
  scans = 0;
}

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
  scans = 0;
  answerStartExecution(sfnMock, stateMachineArn);
});

afterEach(() => {
  ssm.mock.reset();
  table.mock.reset();
  sfnMock.reset();
});

describe('alarm index', () => {
  describe('kept by onConfigChanged', () => {
    it('lists an app/environment under every rollback and gate alarm its new config names', async () => {
      // Prepare
      ssm.put('/gantry/web/prod/config', {
        ...webConfig,
        rollbackAlarms: ['web-prod-5xx'],
        gates: { alarms: ['web-prod-latency', 'web-prod-5xx'] },
      });

      // Act
      await onConfigChanged()('Create', 'web', 'prod');

      // Assess
      expect(await indexed('web-prod-5xx')).toEqual(['web/prod']);
      expect(await indexed('web-prod-latency')).toEqual(['web/prod']);
    });

    it('moves an app/environment off an alarm its updated config stops naming, keeping the entry', async () => {
      // Prepare: web/prod and web/eu both list web-5xx.
      ssm.put('/gantry/web/prod/config', { ...webConfig, rollbackAlarms: ['web-5xx'] });
      ssm.put('/gantry/web/eu/config', { ...webConfig, rollbackAlarms: ['web-5xx'] });
      await rebuildConfigIndexes({ table: table.table, configSource, parameterPrefix: '/gantry' });
      ssm.put('/gantry/web/prod/config', { ...webConfig, rollbackAlarms: ['web-prod-errors'] });

      // Act
      await onConfigChanged()('Update', 'web', 'prod');

      // Assess
      expect(await indexed('web-5xx')).toEqual(['web/eu']);
      expect(await indexed('web-prod-errors')).toEqual(['web/prod']);
    });

    it('removes a deleted config from every alarm it was listed under, and from its repository', async () => {
      // Prepare
      ssm.put('/gantry/web/prod/config', { ...webConfig, rollbackAlarms: ['web-5xx', 'web-latency'] });
      await onConfigChanged()('Create', 'web', 'prod');
      ssm.parameters.delete('/gantry/web/prod/config');

      // Act
      await onConfigChanged()('Delete', 'web', 'prod');

      // Assess: the entries stay, empty: the alarms were seen, and nobody names them.
      expect(await indexed('web-5xx')).toEqual([]);
      expect(await indexed('web-latency')).toEqual([]);
      expect((await readIndexEntry(table.table, 'web'))?.appEnvs).toEqual([]);
    });

    it('indexes the alarms of an invalid config, so the alarm still reports it', async () => {
      // Prepare: a typo makes the config invalid; its alarm list is still readable.
      ssm.put('/gantry/web/prod/config', { ...webConfig, tagPatern: '^v', rollbackAlarms: ['web-5xx'] });

      // Act
      await onConfigChanged()('Update', 'web', 'prod');
      const { rollbacks, invalidConfigs } = await requestRollbacks(rollbackDeps(), alarmTrigger('web-5xx'));

      // Assess
      expect(await indexed('web-5xx')).toEqual(['web/prod']);
      expect(rollbacks).toEqual([]);
      expect(invalidConfigs).toEqual([expect.stringMatching(/^web\/prod: .*tagPatern/)]);
    });

    it('does not index a name longer than a DynamoDB sort key holds, and indexes the rest', async () => {
      // Prepare: 1,025 bytes cannot be a sort key (nor any CloudWatch alarm's name).
      ssm.put('/gantry/web/prod/config', { ...webConfig, rollbackAlarms: ['x'.repeat(1025), 'web-5xx'] });

      // Act
      await onConfigChanged()('Update', 'web', 'prod');

      // Assess
      expect(await indexed('web-5xx')).toEqual(['web/prod']);
      expect(
        table.mock
          .commandCalls(PutItemCommand)
          .map((call) => call.args[0].input.Item?.sk?.S)
          .filter((sk) => (sk?.length ?? 0) > 1024),
      ).toEqual([]);
    });
  });

  describe('rebuilt by the reconciler', () => {
    it('writes the alarm entries a lost change event left wrong, and only those, from one scan', async () => {
      // Prepare: app-0-5xx right, app-1-5xx missing (its Create event lost), a stale entry naming
      // app-2 under an alarm its config no longer lists.
      seedFleet(3);
      await writeIndexEntry(
        table.table,
        'app-0-5xx',
        [{ app: 'app-0', env: 'prod' }],
        'absent',
        alarmIndexPartition,
      );
      await writeIndexEntry(
        table.table,
        'old-alarm',
        [{ app: 'app-2', env: 'prod' }],
        'absent',
        alarmIndexPartition,
      );
      resetCallHistory();

      // Act
      const { alarms } = await rebuildConfigIndexes({
        table: table.table,
        configSource,
        parameterPrefix: '/gantry',
      });

      // Assess
      expect(alarms).toEqual({ entries: 4, repaired: ['app-1-5xx', 'app-2-5xx', 'old-alarm'], raced: [] });
      expect(await indexed('app-1-5xx')).toEqual(['app-1/prod']);
      expect(await indexed('old-alarm')).toEqual([]);
      // One scan feeds both indexes; one Query lists each.
      expect(scans).toBe(1);
      expect(table.mock.commandCalls(QueryCommand)).toHaveLength(2);
    });
  });

  describe('routing an alarm', () => {
    it.each([4, 1000])(
      'costs one index read, one GetParameters and its StartExecution with %i app/environments',
      async (fleet) => {
        // Prepare: one app/environment lists app-1-5xx, whatever the fleet's size.
        seedFleet(fleet);
        await rebuildConfigIndexes({ table: table.table, configSource, parameterPrefix: '/gantry' });
        resetCallHistory();

        // Act
        const { rollbacks } = await requestRollbacks(rollbackDeps(), alarmTrigger('app-1-5xx'));

        // Assess: one GetItem reads the index, the other asks whether a deploy of app-1/prod is in
        // flight.
        expect(rollbacks).toEqual([{ app: 'app-1', env: 'prod', started: true }]);
        expect(callCounts()).toEqual({
          getItems: 2,
          putItems: 0,
          getParameter: 0,
          getParameters: 1,
          byPath: 0,
          starts: 1,
        });
      },
    );

    it('scans once for an alarm the index has never seen, then routes it through the index', async () => {
      // Prepare: nothing indexed yet.
      seedFleet(3);
      ssm.put('/gantry/app-0/eu/config', { ...webConfig, gates: { alarms: ['app-0-5xx'] } });

      // Act
      const first = await requestRollbacks(rollbackDeps(), alarmTrigger('app-0-5xx'));
      const scansForFirst = scans;
      const second = await requestRollbacks(rollbackDeps(), alarmTrigger('app-0-5xx'));

      // Assess: both find the rollback and the gate alarm; only the first scanned.
      expect(first.rollbacks.map(appEnvKey).sort()).toEqual(['app-0/eu', 'app-0/prod']);
      expect(second.rollbacks.map(appEnvKey).sort()).toEqual(['app-0/eu', 'app-0/prod']);
      expect(scansForFirst).toBe(1);
      expect(scans).toBe(1);
      expect(await indexed('app-0-5xx')).toEqual(['app-0/eu', 'app-0/prod']);
    });

    it('remembers an alarm no app/environment names, so the next one costs one index read', async () => {
      // Prepare
      seedFleet(3);
      await requestRollbacks(rollbackDeps(), alarmTrigger('db-cpu'));
      resetCallHistory();

      // Act
      const { rollbacks } = await requestRollbacks(rollbackDeps(), alarmTrigger('db-cpu'));

      // Assess
      expect(rollbacks).toEqual([]);
      expect(callCounts()).toMatchObject({ getItems: 1, getParameters: 0, byPath: 0, starts: 0 });
    });

    it('skips an app/environment a stale entry still lists once its config stopped naming the alarm', async () => {
      // Prepare: the Update event that took app-1 off app-1-5xx was lost.
      seedFleet(3);
      await rebuildConfigIndexes({ table: table.table, configSource, parameterPrefix: '/gantry' });
      ssm.put('/gantry/app-1/prod/config', { ...webConfig, rollbackAlarms: [] });

      // Act
      const { rollbacks } = await requestRollbacks(rollbackDeps(), alarmTrigger('app-1-5xx'));

      // Assess
      expect(rollbacks).toEqual([]);
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });
  });

  describe('routing a Rollback Requested event', () => {
    it.each([4, 1000])(
      'reads its config and live release by name in one call, with %i app/environments',
      async (fleet) => {
        // Prepare
        seedFleet(fleet);
        resetCallHistory();

        // Act
        const { rollbacks } = await requestRollbacks(rollbackDeps(), requestTrigger('app-2', 'prod'));

        // Assess
        expect(rollbacks).toEqual([{ app: 'app-2', env: 'prod', started: true }]);
        expect(ssm.mock.commandCalls(GetParametersCommand).map((call) => call.args[0].input.Names)).toEqual([
          ['/gantry/app-2/prod/config', '/gantry/app-2/prod/release'],
        ]);
        expect(callCounts()).toEqual({
          getItems: 1,
          putItems: 0,
          getParameter: 0,
          getParameters: 1,
          byPath: 0,
          starts: 1,
        });
      },
    );

    it('starts nothing for an app/environment without a config, and says so', async () => {
      // Act
      const result = await requestRollbacks(rollbackDeps(), requestTrigger('ghost', 'prod'));

      // Assess
      expect(result).toEqual({
        rollbacks: [
          {
            app: 'ghost',
            env: 'prod',
            started: false,
            why: 'ignored: /gantry/ghost/prod/config does not exist',
          },
        ],
        invalidConfigs: [],
      });
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });

    it('starts nothing for an app/environment whose config is invalid, and reports the config', async () => {
      // Prepare
      ssm.put('/gantry/web/prod/config', { ...webConfig, tagPatern: '^v' });

      // Act
      const result = await requestRollbacks(rollbackDeps(), requestTrigger('web', 'prod'));

      // Assess
      expect(result.rollbacks).toEqual([
        { app: 'web', env: 'prod', started: false, why: 'ignored: the config of web/prod is invalid' },
      ]);
      expect(result.invalidConfigs).toEqual([expect.stringMatching(/^web\/prod: .*tagPatern/)]);
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });
  });
});
