import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCoordination, upgradeStop } from '../../functions/src/coordination/migrate.ts';
import { releaseHistory } from '../../functions/src/release.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { executionsOf } from '../support/flows.ts';

/** A release record as the Parameter Store version kept it (one version per record). */
function oldRecord(index: number) {
  const digest = `sha256:${String(index).repeat(64)}`;
  return {
    kind: 'release',
    image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/legacy@${digest}`,
    digest,
    tag: `v0.0.${index}`,
    taskDefinitionArn: `arn:aws:ecs:eu-west-1:123456789012:task-definition/legacy-prod:${index}`,
    at: `2025-0${index}-01T00:00:00.000Z`,
    executionArn: `arn:aws:states:eu-west-1:123456789012:execution:gantry-sandbox-deploy:old-${index}`,
    requestedAt: `2025-0${index}-01T00:00:00Z`,
    previous: null,
  };
}

describe('upgrading from the Parameter Store layout (sandbox)', () => {
  let sandbox: Sandbox;
  let deps: Parameters<typeof migrateCoordination>[0];
  let options: { parameterPrefix: string; stateMachineArn: string };

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
    const config = sandbox.emulator.clientConfig;
    deps = {
      ssm: new SSMClient(config),
      sfn: new SFNClient(config),
      table: { dynamodb: new DynamoDBClient(config), tableName: sandbox.coordinationTable },
    };
    options = { parameterPrefix: '/gantry', stateMachineArn: sandbox.stepFunctions.stateMachineArn };
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('copies the release history, removes the old coordination parameters and stops what the old version ran', async () => {
    // Prepare: the old layout: three release versions, a lock, a waiter and a parked rollout token.
    sandbox.seedApp({ app: 'legacy', env: 'prod', repository: 'legacy' });
    const ssm = sandbox.emulator.ssm;
    for (const index of [1, 2, 3]) ssm.put('/gantry/legacy/prod/release', JSON.stringify(oldRecord(index)));
    ssm.put('/gantry/legacy/prod/lock', JSON.stringify({ executionArn: oldRecord(3).executionArn }));
    ssm.put('/gantry/legacy/prod/next', JSON.stringify({ executionArn: 'arn:waiting' }));
    ssm.put('/gantry-rollouts/ecs-svc/1234567890123456789', '{"taskToken":"old"}', { type: 'SecureString' });
    const rolling = new Promise<void>((resolve) => {
      sandbox.stepFunctions.hooks.observe = ({ state }) => state === 'WaitForRollout' && resolve();
    });
    await sandbox.push({
      repository: 'legacy',
      tag: 'v1.0.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 3600 },
    });
    await rolling;
    const [running] = executionsOf(sandbox, 'legacy');

    // Act: first without saying which executions are the old version's, then saying it.
    const refused = await migrateCoordination(deps, options);
    const namesBefore = ssm.names();
    const migrated = await migrateCoordination(deps, { ...options, stopStartedBefore: new Date() });
    const again = await migrateCoordination(deps, options);
    await sandbox.idle();

    // Assess
    expect(refused).toEqual({ status: 'refused', why: expect.any(String), running: [running?.executionArn] });
    expect(namesBefore).toContain('/gantry/legacy/prod/lock');
    expect(migrated).toEqual({
      status: 'migrated',
      stopped: [running?.executionArn],
      copied: { 'legacy/prod': 3 },
      removed: [
        '/gantry/legacy/prod/lock',
        '/gantry/legacy/prod/next',
        '/gantry-rollouts/ecs-svc/1234567890123456789',
      ],
    });
    expect(again).toEqual({ status: 'migrated', stopped: [], copied: { 'legacy/prod': 3 }, removed: [] });
    expect(sandbox.stepFunctions.describeExecution(running?.executionArn ?? '')).toMatchObject({
      status: 'ABORTED',
      ...upgradeStop,
    });
    const history = await releaseHistory(deps.table, 'legacy', 'prod', { limit: 10 });
    expect(history.map((record) => record.tag)).toEqual(['v0.0.3', 'v0.0.2', 'v0.0.1']);
    expect(ssm.get('/gantry/legacy/prod/release')).toBe(JSON.stringify(oldRecord(3)));
  });

  it('deploys after the upgrade on top of the migrated history', async () => {
    // Act
    const v2 = await sandbox.push({ repository: 'legacy', tag: 'v2.0.0' });
    await sandbox.idle();

    // Assess
    expect(sandbox.executionFor(v2.digest)?.states.at(-1)).toBe('Deployed');
    const [newest, before] = await releaseHistory(deps.table, 'legacy', 'prod', { limit: 2 });
    expect(newest?.digest).toBe(v2.digest);
    expect(before?.tag).toBe('v0.0.3');
  });
});
