import { GetParametersCommand } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appEnvsTracking, readAppEnvs } from '../../functions/src/repository-index/tracking.ts';
import { webConfig } from '../support/aws-fixtures.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';
import { throttled, transientWhile } from '../support/throttling.ts';

/*
 * Who an index names, read by name: the configs and live releases of the app/environments an entry
 * lists, and the one scan for a key the index has never seen.
 */

let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;

const release = {
  kind: 'release',
  image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:${'a'.repeat(64)}`,
  digest: `sha256:${'a'.repeat(64)}`,
  taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web-prod:7',
  at: '2025-06-03T10:00:00Z',
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:push',
  requestedAt: '2025-06-03T09:59:00Z',
  previous: null,
};

function deps() {
  return {
    ssm: ssm.client,
    table: table.table,
    configSource: async (prefix: string) => ssm.configsUnder(prefix),
    parameterPrefix: '/gantry',
  };
}

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
});

afterEach(() => {
  ssm.mock.reset();
  table.mock.reset();
});

describe('readAppEnvs', () => {
  it('reads each config with its live release, or none when it has not deployed yet', async () => {
    // Prepare
    ssm.put('/gantry/web/prod/config', webConfig);
    ssm.put('/gantry/web/prod/release', release);
    ssm.put('/gantry/web/qa/config', webConfig);

    // Act
    const read = await readAppEnvs(ssm.client, '/gantry', [
      { app: 'web', env: 'prod' },
      { app: 'web', env: 'qa' },
    ]);

    // Assess
    expect(read.invalid).toEqual([]);
    expect(read.appEnvs.map(({ app, env, release }) => ({ app, env, at: release?.at }))).toEqual([
      { app: 'web', env: 'prod', at: '2025-06-03T10:00:00Z' },
      { app: 'web', env: 'qa', at: undefined },
    ]);
  });

  it('says what it was reading when Parameter Store stays throttled', async () => {
    // Prepare
    ssm.mock.on(GetParametersCommand).rejects(throttled());

    // Act, Assess
    await expect(readAppEnvs(ssm.client, '/gantry', [{ app: 'web', env: 'prod' }])).rejects.toThrow(
      expect.objectContaining(transientWhile('reading 2 parameters')),
    );
  });
});

describe('appEnvsTracking', () => {
  it('says it scanned for a repository the index had never seen, and read the index the next time', async () => {
    // Prepare
    ssm.put('/gantry/web/prod/config', webConfig);

    // Act
    const first = await appEnvsTracking(deps(), webConfig.repository);
    const second = await appEnvsTracking(deps(), webConfig.repository);

    // Assess
    expect([first.via, second.via]).toEqual(['scan', 'index']);
    expect(second.tracking.map(({ app, env }) => `${app}/${env}`)).toEqual(['web/prod']);
  });
});
