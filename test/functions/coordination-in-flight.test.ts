import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SendTaskFailureCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliverRollbackRequest, noteRolloutInFlight } from '../../functions/src/coordination/in-flight.ts';
import { registerRolloutWait, type WaitDependencies } from '../../functions/src/coordination/waits.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';
import { throttled, transientWhile } from '../support/throttling.ts';

/*
 * A rollback request reaches the deploy in flight for its app/environment instead of queueing.
 */

const sfnMock = mockClient(SFNClient);
const where = { app: 'web', env: 'prod' };
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: WaitDependencies;

async function park(taskToken: string, deploymentId = 'ecs-svc/1234') {
  await registerRolloutWait(deps, { taskToken, deploymentId, timeoutSeconds: 900 }, async () => ({
    outcome: 'pending' as const,
  }));
}

beforeEach(() => {
  table = fakeCoordinationTable();
  deps = {
    table: table.table,
    sfn: new SFNClient({ region: 'eu-west-1' }),
    now: () => new Date('2026-12-03T10:00:00Z'),
  };
  sfnMock.on(SendTaskFailureCommand).resolves({});
});
afterEach(() => {
  table.mock.reset();
  sfnMock.reset();
});

describe('deliverRollbackRequest', () => {
  it("fails the deploy's parked wait with RollbackRequested and the reason", async () => {
    await park('token-deploy');
    await noteRolloutInFlight(deps, where, { deploymentId: 'ecs-svc/1234', taskToken: 'token-deploy' });

    const delivered = await deliverRollbackRequest(deps, where, 'error rate up');

    expect(delivered).toBe(true);
    expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskFailureCommand, {
      taskToken: 'token-deploy',
      error: 'RollbackRequested',
    });
    expect(JSON.parse(sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input.cause ?? '{}')).toEqual({
      message: 'error rate up',
      deploymentId: 'ecs-svc/1234',
    });
  });

  it('delivers nothing when no deploy of the app/environment is parked', async () => {
    const delivered = await deliverRollbackRequest(deps, where, 'error rate up');

    expect(delivered).toBe(false);
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskFailureCommand);
  });

  it("never fails a rollback's own wait parked later under the same deployment", async () => {
    await noteRolloutInFlight(deps, where, { deploymentId: 'ecs-svc/1234', taskToken: 'token-deploy' });
    // The deploy's wait was settled; its rollback now waits on the same ECS deployment.
    await park('token-rollback');

    const delivered = await deliverRollbackRequest(deps, where, 'error rate up');

    expect(delivered).toBe(false);
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskFailureCommand);
  });

  it("delivers nothing when the deploy's wait was already settled (it is between two states)", async () => {
    // Prepare: the pointer is still there, the wait it names is not.
    await noteRolloutInFlight(deps, where, { deploymentId: 'ecs-svc/1234', taskToken: 'token-deploy' });

    // Act
    const delivered = await deliverRollbackRequest(deps, where, 'error rate up');

    // Assess
    expect(delivered).toBe(false);
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskFailureCommand);
  });

  it.each([
    ['its deployment id', { deploymentId: undefined, taskToken: { S: 'token-deploy' } }],
    ['its token', { deploymentId: { S: 'ecs-svc/1234' }, taskToken: undefined }],
  ])('delivers nothing, and reads no parked wait, from a pointer without %s', async (_what, pointer) => {
    // Prepare: a pointer item as a hand edit (or an older version) could leave it.
    table.put({
      pk: { S: 'app#web#prod' },
      sk: { S: 'rollout' },
      ...(pointer.deploymentId && { deploymentId: pointer.deploymentId }),
      ...(pointer.taskToken && { taskToken: pointer.taskToken }),
    });

    // Act
    const delivered = await deliverRollbackRequest(deps, where, 'error rate up');

    // Assess
    expect(delivered).toBe(false);
    expect(table.mock).toHaveReceivedCommandTimes(GetItemCommand, 1);
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskFailureCommand);
  });

  it('reads the pointer strongly consistent, so a deploy parked a moment ago is not missed', async () => {
    // Act
    await deliverRollbackRequest(deps, where, 'error rate up');

    // Assess: an eventually consistent read may miss a write of the last second (DynamoDB
    // developer guide, "Read consistency").
    expect(table.mock).toHaveReceivedCommandWith(GetItemCommand, { ConsistentRead: true });
  });

  it.each([
    [
      'reading the rollout in flight',
      GetItemCommand,
      () => deliverRollbackRequest(deps, where, 'error rate up'),
    ],
    [
      'noting the rollout in flight',
      PutItemCommand,
      () => noteRolloutInFlight(deps, where, { deploymentId: 'ecs-svc/1234', taskToken: 'token-deploy' }),
    ],
  ] as const)(
    'fails with TransientAwsError saying it was %s when DynamoDB throttles',
    async (doing, command, act) => {
      // Prepare
      table.mock.on(command as typeof GetItemCommand).rejects(throttled());

      // Act / Assess
      await expect(act()).rejects.toMatchObject(transientWhile(doing));
      expect(sfnMock).not.toHaveReceivedCommand(SendTaskFailureCommand);
    },
  );
});

describe('noteRolloutInFlight', () => {
  it("lets the pointer expire a day after its wait's timeout", async () => {
    // Act
    await noteRolloutInFlight(deps, where, {
      deploymentId: 'ecs-svc/1234',
      taskToken: 'token-deploy',
      timeoutSeconds: 900,
    });

    // Assess: 2026-12-03T10:00:00Z + 900 s + 24 h, in epoch seconds (DynamoDB TTL reads a Number of seconds).
    const expiresAt = Date.parse('2026-12-04T10:15:00Z') / 1000;
    expect(table.appEnvItem('web', 'prod', 'rollout')).toMatchObject({ expiresAt: { N: String(expiresAt) } });
  });

  it('lets a pointer without a timeout expire a day after it was written', async () => {
    // Act
    await noteRolloutInFlight(deps, where, { deploymentId: 'ecs-svc/1234', taskToken: 'token-deploy' });

    // Assess
    const expiresAt = Date.parse('2026-12-04T10:00:00Z') / 1000;
    expect(table.appEnvItem('web', 'prod', 'rollout')).toMatchObject({ expiresAt: { N: String(expiresAt) } });
  });
});
