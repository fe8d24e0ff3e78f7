import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cachedConfigSource } from '../../functions/handlers/config-source.ts';
import type { CoordinationTable } from '../../functions/src/coordination/table.ts';
import { rebuildRepositoryIndex } from '../../functions/src/repository-index/config-change.ts';
import { appEnvKey, readIndexEntry } from '../../functions/src/repository-index/index-table.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

/**
 * The repository index in the sandbox: configs written through the API (as `gantry config put`
 * writes them) reach the index through Parameter Store's change events and onConfigChanged; a lost
 * event leaves the entry stale until the reconciler's rebuild.
 */
describe('repository index (sandbox)', () => {
  let sandbox: Sandbox;
  let ssm: SSMClient;
  let table: CoordinationTable;

  /** A config for the service seedApp made for app/env (cluster env, service app), tracking `repository`. */
  const configOf = (app: string, env: string, repository: string) =>
    JSON.stringify({
      ...JSON.parse(sandbox.emulator.ssm.get('/gantry/web/prod/config') ?? '{}'),
      repository,
      target: { type: 'ecs', cluster: env, service: app, container: 'app' },
    });

  const putConfig = async (app: string, env: string, repository: string) => {
    await ssm.send(
      new PutParameterCommand({
        Name: `/gantry/${app}/${env}/config`,
        Value: configOf(app, env, repository),
        Type: 'String',
        Overwrite: true,
      }),
    );
    await sandbox.idle();
  };

  const indexed = async (repository: string) =>
    (await readIndexEntry(table, repository, { consistent: true }))?.appEnvs.map(appEnvKey);

  beforeEach(async () => {
    sandbox = await startSandbox({ speed: 200 });
    sandbox.seedApp({ app: 'web', env: 'prod', repository: 'web' });
    ssm = new SSMClient(sandbox.emulator.clientConfig);
    table = {
      dynamodb: new DynamoDBClient(sandbox.emulator.clientConfig),
      tableName: sandbox.coordinationTable,
    };
  });

  afterEach(async () => {
    await sandbox.close();
  });

  it('follows a config created, moved to another repository and deleted through the API', async () => {
    // Act, Assess: created
    sandbox.seedApp({ app: 'api', env: 'prod', repository: 'api', rawConfig: '{}' });
    await putConfig('api', 'prod', 'api');
    expect(await indexed('api')).toEqual(['api/prod']);

    // Act, Assess: moved
    await putConfig('api', 'prod', 'api-next');
    expect(await indexed('api')).toEqual([]);
    expect(await indexed('api-next')).toEqual(['api/prod']);

    // Act, Assess: deleted
    await ssm.send(new DeleteParameterCommand({ Name: '/gantry/api/prod/config' }));
    await sandbox.idle();
    expect(await indexed('api-next')).toEqual([]);
  }, 30_000);

  it('deploys a push through the index once the config change is indexed', async () => {
    // Prepare: the api service's config arrives through the API, after the index knew `api`.
    sandbox.seedApp({ app: 'api', env: 'prod', repository: 'api', rawConfig: '{}' });
    await putConfig('api', 'prod', 'api');

    // Act
    const { digest } = await sandbox.push({ repository: 'api', tag: 'v2.0.0' });
    await sandbox.idle();

    // Assess
    expect(sandbox.release('api', 'prod')?.digest).toBe(digest);
    expect(
      sandbox.emulator.calls.filter(
        (call) => call.caller === 'onImagePushed' && call.operation === 'GetParametersByPath',
      ),
    ).toEqual([]);
  }, 30_000);

  it('repairs an entry a lost change event left stale with the rebuild, and the push after it deploys', async () => {
    // Prepare: `web` is indexed by its first push; the event adding web/qa is lost.
    await sandbox.push({ repository: 'web', tag: 'v1.0.0' });
    await sandbox.idle();
    sandbox.emulator.events.dropWhen((event) => event['detail-type'] === 'Parameter Store Change');
    sandbox.seedApp({ app: 'worker', env: 'qa', repository: 'web', rawConfig: '{}' });
    await putConfig('worker', 'qa', 'web');
    await sandbox.idle();
    expect(await indexed('web')).toEqual(['web/prod']);

    // Act: the reconciler's period comes.
    const rebuilt = await rebuildRepositoryIndex({
      table,
      configSource: cachedConfigSource(ssm, 0),
      parameterPrefix: sandbox.parameterPrefix,
    });
    const { digest } = await sandbox.push({ repository: 'web', tag: 'v1.1.0' });
    await sandbox.idle();

    // Assess
    expect(rebuilt.repaired).toEqual(['web']);
    expect(await indexed('web')).toEqual(['web/prod', 'worker/qa']);
    expect(sandbox.release('worker', 'qa')?.digest).toBe(digest);
  }, 30_000);
});
