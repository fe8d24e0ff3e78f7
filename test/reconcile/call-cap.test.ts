import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionKey, sortKey, ttlAttribute } from '../../functions/src/coordination/table.ts';
import { type ReconcileDependencies, reconcile } from '../../functions/src/reconcile/reconcile.ts';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';
import { webConfig } from '../support/aws-fixtures.ts';

const region = 'eu-west-1';
const accountId = '123456789012';
const stateMachineArn = `arn:aws:states:${region}:${accountId}:stateMachine:gantry-test-deploy`;
const tableName = 'gantry-test-coordination';

/**
 * A registry with thousands of images and a fleet larger than one run's cap, on the emulator with
 * Parameter Store's quotas on: every call the reconciler makes is in the emulator's call log, so
 * the cap is checked against what AWS would have been asked, not against the code's own count.
 */
describe('the reconciler within its call cap (emulator)', () => {
  let emulator: Emulator;
  const started: string[] = [];

  beforeAll(async () => {
    emulator = await startEmulator({ region, accountId, startTime: Date.parse('2026-12-03T10:00:00Z') });
    emulator.dynamodb.createTable({ name: tableName, partitionKey, sortKey, ttlAttribute });
    emulator.sfn.setHandlers({
      startExecution: ({ name }) => {
        started.push(name ?? '');
        return {
          executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
          startDate: new Date(),
        };
      },
      describeExecution: (arn) => {
        const name = arn.slice(arn.lastIndexOf(':') + 1);
        if (!started.includes(name)) {
          throw Object.assign(new Error(`no execution ${arn}`), { name: 'ExecutionDoesNotExist' });
        }
        return { executionArn: arn, stateMachineArn, name, status: 'RUNNING', startDate: new Date() };
      },
      sendTaskSuccess: () => {},
      sendTaskFailure: () => {},
      sendTaskHeartbeat: () => {},
      listExecutions: () => [],
      stopExecution: () => new Date(),
    });
    // 30 app/environments over 3 repositories; the configs were written before any image.
    for (let index = 0; index < 30; index++) {
      emulator.ssm.put(
        `/gantry/app${index}/prod/config`,
        JSON.stringify({
          ...webConfig,
          repository: `repo${index % 3}`,
          target: { ...webConfig.target, service: `app${index}` },
        }),
      );
    }
    await emulator.clock.advance(60_000);
    // repo0 holds 4,500 images (4,499 old CI builds and one release tag); the others one release each.
    for (let build = 0; build < 4_499; build++)
      emulator.ecr.putImage({ repository: 'repo0', tag: `ci-${build}` });
    for (const repository of ['repo0', 'repo1', 'repo2'])
      emulator.ecr.putImage({ repository, tag: 'v2.0.0' });
  });
  afterAll(async () => {
    await emulator.close();
  });

  const deps = (maxCalls: number): ReconcileDependencies => ({
    ssm: new SSMClient(emulator.clientConfig),
    ecr: new ECRClient(emulator.clientConfig),
    sfn: new SFNClient(emulator.clientConfig),
    ecs: new ECSClient(emulator.clientConfig),
    events: new EventBridgeClient(emulator.clientConfig),
    table: { dynamodb: new DynamoDBClient(emulator.clientConfig), tableName },
    parameterPrefix: '/gantry',
    stateMachineArn,
    eventBusName: 'default',
    maxCalls,
    maxImagePages: 10,
  });
  const runAt = (minute: number) => ({
    time: new Date(Date.parse('2026-12-03T10:05:00Z') + minute * 60_000).toISOString(),
    account: accountId,
    region,
  });

  it('stops at the cap, defers the rest, and reaches every app/environment over the next runs', async () => {
    // Prepare: 3 pages of configs, 5 + 1 + 1 pages of images, then 3 calls per lost push (is it
    // started already, was it rolled back, start it): a cap of 40 covers about ten of thirty.
    const callsBefore = emulator.calls.length;

    // Act
    const first = await reconcile(deps(40), runAt(0));
    const callsOfFirst = emulator.calls.length - callsBefore;
    const later: Awaited<ReturnType<typeof reconcile>>[] = [];
    // Hang guard: twenty runs at most (a hundred simulated minutes at the default period).
    for (let run = 1; run <= 20 && new Set(started).size < 30; run++) {
      await emulator.clock.advance(300_000);
      const before = emulator.calls.length;
      later.push(await reconcile(deps(40), runAt(5 * run)));
      expect(emulator.calls.length - before).toBeLessThanOrEqual(40);
    }

    // Assess
    expect(callsOfFirst).toBeLessThanOrEqual(40);
    expect(first.calls).toBe(callsOfFirst);
    expect(first).toMatchObject({ callCap: 40, failed: 0 });
    expect(first.deferred).toBeGreaterThan(0);
    expect(first.started + first.deferred).toBe(30);
    expect(first.outcomes.find((outcome) => outcome.status === 'deferred')).toMatchObject({
      why: expect.stringContaining('the cap of 40 AWS calls per run is spent'),
    });
    // Each app/environment's lost push started once, none twice, within a few runs.
    expect(new Set(started).size).toBe(30);
    expect(started).toHaveLength(30);
    expect(later.length).toBeLessThan(20);
  });

  it('says so, checking nothing, when the cap is too small to read the fleet itself', async () => {
    // Act
    const run = await reconcile(deps(2), runAt(200));

    // Assess
    expect(run).toMatchObject({
      checked: 0,
      calls: 2,
      fleetUnread: expect.stringContaining('raise maxCalls above the fleet'),
      outcomes: [],
    });
  });
});
