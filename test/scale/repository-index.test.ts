import { GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParametersByPathCommand, GetParametersCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ImagePush, type PushDependencies, routeImagePush } from '../../functions/src/image-push.ts';
import {
  indexConfigChange,
  parseConfigChangeEvent,
  rebuildRepositoryIndex,
} from '../../functions/src/repository-index/config-change.ts';
import {
  appEnvKey,
  readIndexEntry,
  updateIndexEntry,
  writeIndexEntry,
} from '../../functions/src/repository-index/index-table.ts';
import { loadEvent, story, webConfig } from '../support/aws-fixtures.ts';
import { answerStartExecution } from '../support/sfn-mock.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const sfnMock = mockClient(SFNClient);
let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;
let scans: number;

/** `count` app/environments, two per repository (`repo-0` … ), each config in Parameter Store. */
function seedFleet(count: number) {
  for (let i = 0; i < count; i++) {
    ssm.put(`/gantry/app-${i}/prod/config`, { ...webConfig, repository: `repo-${Math.floor(i / 2)}` });
  }
}

/** Every config under the prefix, as Powertools' getMultiple returns them (relative names), each scan counted. */
const configSource = async (prefix: string) => {
  scans++;
  return ssm.configsUnder(prefix);
};

function deps(): PushDependencies {
  return {
    ssm: ssm.client,
    sfn: new SFNClient({ region: story.region }),
    table: table.table,
    configSource,
    parameterPrefix: '/gantry',
    stateMachineArn,
  };
}

const push = (repository: string, tag = 'v1.4.2'): ImagePush => ({
  repository,
  digest: story.digest,
  tag,
  registry: story.registry,
  pushedAt: '2025-06-03T10:15:01Z',
});

/** Every AWS call the routing made, by command. */
function callCounts() {
  return {
    indexReads: table.mock.commandCalls(GetItemCommand).length,
    indexWrites: table.mock.commandCalls(PutItemCommand).length,
    getParameters: ssm.mock.commandCalls(GetParametersCommand).length,
    byPath: ssm.mock.commandCalls(GetParametersByPathCommand).length,
    starts: sfnMock.commandCalls(StartExecutionCommand).length,
  };
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

describe('repository index', () => {
  describe('routing a push', () => {
    it.each([4, 1000])(
      'costs one index read, one GetParameters and its StartExecutions with %i app/environments',
      async (fleet) => {
        // Prepare: two app/environments track repo-1, whatever the fleet's size.
        seedFleet(fleet);
        await rebuildRepositoryIndex({ table: table.table, configSource, parameterPrefix: '/gantry' });
        table.mock.resetHistory();

        // Act
        const routed = await routeImagePush(deps(), push('repo-1'));

        // Assess
        expect(routed.decisions.map(({ app, action }) => `${app}:${action}`)).toEqual([
          'app-2:started',
          'app-3:started',
        ]);
        expect(callCounts()).toEqual({
          indexReads: 1,
          indexWrites: 0,
          getParameters: 1,
          byPath: 0,
          starts: 2,
        });
      },
    );

    it('asks GetParameters for at most ten names a call', async () => {
      // Prepare: eight app/environments on one repository: 16 names, two calls.
      for (let i = 0; i < 8; i++) ssm.put(`/gantry/app-${i}/prod/config`, webConfig);
      await rebuildRepositoryIndex({ table: table.table, configSource, parameterPrefix: '/gantry' });

      // Act
      const routed = await routeImagePush(deps(), push('web'));

      // Assess
      expect(routed.decisions).toHaveLength(8);
      const batches = ssm.mock
        .commandCalls(GetParametersCommand)
        .map((call) => call.args[0].input.Names?.length);
      expect(batches).toEqual([10, 6]);
    });

    it('scans every config once for a repository the index has never seen, and indexes it', async () => {
      // Prepare
      seedFleet(6);

      // Act
      const first = await routeImagePush(deps(), push('repo-2'));
      const second = await routeImagePush(deps(), push('repo-2', 'v1.4.3'));

      // Assess
      expect(first.decisions.map(({ app }) => app)).toEqual(['app-4', 'app-5']);
      expect(second.decisions.map(({ app }) => app)).toEqual(['app-4', 'app-5']);
      expect(scans).toBe(1);
      const entry = await readIndexEntry(table.table, 'repo-2');
      expect(entry?.appEnvs.map(appEnvKey)).toEqual(['app-4/prod', 'app-5/prod']);
    });

    it('remembers a repository nobody tracks, so its next push scans nothing', async () => {
      // Prepare
      seedFleet(4);

      // Act
      const first = await routeImagePush(deps(), push('ci-tools'));
      const second = await routeImagePush(deps(), push('ci-tools'));

      // Assess
      expect(first.ignored).toBe('no app/environment tracks ci-tools:v1.4.2');
      expect(second.ignored).toBe('no app/environment tracks ci-tools:v1.4.2');
      expect(scans).toBe(1);
      expect(ssm.mock.commandCalls(GetParametersCommand)).toHaveLength(0);
    });

    it('starts nothing for a stale entry whose config now names another repository', async () => {
      // Prepare: the index still lists app-0 under repo-0, its config moved to repo-9.
      seedFleet(2);
      await rebuildRepositoryIndex({ table: table.table, configSource, parameterPrefix: '/gantry' });
      ssm.put('/gantry/app-0/prod/config', { ...webConfig, repository: 'repo-9' });

      // Act
      const routed = await routeImagePush(deps(), push('repo-0'));

      // Assess
      expect(routed.decisions.map(({ app }) => app)).toEqual(['app-1']);
    });
  });

  describe('parseConfigChangeEvent', () => {
    it('reads the app/environment of a config change from the sample event', () => {
      expect(parseConfigChangeEvent(loadEvent('parameter-store-change.json'), '/gantry')).toEqual({
        app: 'web',
        env: 'prod',
        operation: 'Update',
      });
    });

    it.each([
      ['a label', { operation: 'LabelParameterVersion', name: '/gantry/web/prod/config' }, /does not change/],
      ['a release record', { operation: 'Update', name: '/gantry/web/prod/release' }, /not an <app>/],
      ['another prefix', { operation: 'Create', name: '/other/web/prod/config' }, /not an <app>/],
      ['a deeper name', { operation: 'Create', name: '/gantry/team/web/prod/config' }, /not an <app>/],
    ])('ignores %s, saying why', (_, detail, why) => {
      const event = { ...loadEvent('parameter-store-change.json'), detail };

      expect(parseConfigChangeEvent(event, '/gantry')).toEqual({ ignored: expect.stringMatching(why) });
    });

    it('reads a name given without its leading slash as the same parameter', () => {
      const event = {
        ...loadEvent('parameter-store-change.json'),
        detail: { operation: 'Delete', name: 'gantry/web/prod/config' },
      };

      expect(parseConfigChangeEvent(event, '/gantry')).toEqual({
        app: 'web',
        env: 'prod',
        operation: 'Delete',
      });
    });
  });

  describe('indexConfigChange', () => {
    it('moves an app/environment to the repository its config now names', async () => {
      // Prepare
      await writeIndexEntry(
        table.table,
        'web',
        [
          { app: 'web', env: 'prod' },
          { app: 'web', env: 'qa' },
        ],
        'absent',
      );

      // Act
      await indexConfigChange(table.table, { app: 'web', env: 'prod', repository: 'web-next', alarms: [] });

      // Assess
      expect((await readIndexEntry(table.table, 'web'))?.appEnvs.map(appEnvKey)).toEqual(['web/qa']);
      expect((await readIndexEntry(table.table, 'web-next'))?.appEnvs.map(appEnvKey)).toEqual(['web/prod']);
    });

    it('removes a deleted config from every entry and keeps the entry, now empty', async () => {
      // Prepare
      await writeIndexEntry(table.table, 'web', [{ app: 'web', env: 'prod' }], 'absent');

      // Act
      await indexConfigChange(table.table, { app: 'web', env: 'prod', repository: undefined, alarms: [] });

      // Assess
      expect(await readIndexEntry(table.table, 'web')).toEqual(
        expect.objectContaining({ key: 'web', appEnvs: [] }),
      );
    });

    it('keeps both changes when two app/environments join one entry at the same time', async () => {
      // Act
      await Promise.all([
        updateIndexEntry(table.table, 'web', { add: { app: 'a', env: 'prod' } }),
        updateIndexEntry(table.table, 'web', { add: { app: 'b', env: 'prod' } }),
      ]);

      // Assess
      expect((await readIndexEntry(table.table, 'web'))?.appEnvs.map(appEnvKey)).toEqual([
        'a/prod',
        'b/prod',
      ]);
    });

    it('fails with IndexUpdateConflict after five attempts when the entry changes under every one', async () => {
      // Prepare: every conditional write loses its race.
      table.mock.on(PutItemCommand).rejects(
        Object.assign(new Error('The conditional request failed'), {
          name: 'ConditionalCheckFailedException',
          $metadata: {},
        }),
      );

      // Act, Assess
      await expect(updateIndexEntry(table.table, 'web', { add: { app: 'a', env: 'prod' } })).rejects.toThrow(
        expect.objectContaining({
          name: 'IndexUpdateConflict',
          message: 'the index entry of repository web changed under 5 attempts in a row',
        }),
      );
      expect(table.mock.commandCalls(PutItemCommand)).toHaveLength(5);
    });
  });

  describe('rebuildRepositoryIndex', () => {
    it('writes the entries a lost change event left wrong, and only those', async () => {
      // Prepare: repo-0 right, repo-1 missing app-3 (its Create event lost), repo-2 never indexed.
      seedFleet(6);
      await writeIndexEntry(
        table.table,
        'repo-0',
        [
          { app: 'app-0', env: 'prod' },
          { app: 'app-1', env: 'prod' },
        ],
        'absent',
      );
      await writeIndexEntry(table.table, 'repo-1', [{ app: 'app-2', env: 'prod' }], 'absent');
      table.mock.resetHistory();

      // Act
      const outcome = await rebuildRepositoryIndex({
        table: table.table,
        configSource,
        parameterPrefix: '/gantry',
      });

      // Assess
      expect(outcome).toEqual({ entries: 3, repaired: ['repo-1', 'repo-2'], raced: [] });
      expect((await readIndexEntry(table.table, 'repo-1'))?.appEnvs.map(appEnvKey)).toEqual([
        'app-2/prod',
        'app-3/prod',
      ]);
      expect(table.mock.commandCalls(QueryCommand)).toHaveLength(1);
    });
  });
});
