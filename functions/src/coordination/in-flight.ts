import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { awsCall } from '../errors.ts';
import type { AppEnv } from '../lock.ts';
import { appEnvPartition, expiresIn, keyOf, rolloutSortKey, s, stringOf, ttlAttribute } from './table.ts';
import { parkedWaitSchema, readRolloutWait, settleRollout, type WaitDependencies } from './waits.ts';

/**
 * Which rollout an app/environment's deploy is waiting on, so a rollback request reaches that
 * execution instead of queueing behind its lock (issue 12, item 4). Written when a deploy (not a
 * rollback) parks its token; it names the token too, so a later wait under the same deployment id
 * (the rollback of a staged deployment waits on the same ECS deployment) is never mistaken for it.
 */
const inFlightSortKey = rolloutSortKey;
/** Like a parked wait, the pointer lingers at most a day after its wait's timeout. */
const graceSeconds = 24 * 3600;

export async function noteRolloutInFlight(
  deps: WaitDependencies,
  where: AppEnv,
  wait: { deploymentId: string; taskToken: string; timeoutSeconds?: number },
): Promise<void> {
  await awsCall('noting the rollout in flight', () =>
    deps.table.dynamodb.send(
      new PutItemCommand({
        TableName: deps.table.tableName,
        Item: {
          ...keyOf(appEnvPartition(where.app, where.env), inFlightSortKey),
          deploymentId: s(wait.deploymentId),
          taskToken: s(wait.taskToken),
          [ttlAttribute]: expiresIn(deps.now(), (wait.timeoutSeconds ?? 0) + graceSeconds),
        },
      }),
    ),
  );
}

/**
 * Delivers a rollback request to the app/environment's deploy if one is parked on its rollout:
 * the execution resumes failed with `RollbackRequested` and goes straight to its Rollback step
 * (rolling: UpdateService to the recorded release; staged: StopServiceDeployment ROLLBACK). False
 * when no deploy is parked (none runs, or it is between two states): the caller starts a rollback
 * execution as before.
 */
export async function deliverRollbackRequest(
  deps: WaitDependencies,
  where: AppEnv,
  reason: string,
): Promise<boolean> {
  const { Item } = await awsCall('reading the rollout in flight', () =>
    deps.table.dynamodb.send(
      new GetItemCommand({
        TableName: deps.table.tableName,
        Key: keyOf(appEnvPartition(where.app, where.env), inFlightSortKey),
        ConsistentRead: true,
      }),
    ),
  );
  const deploymentId = stringOf(Item, 'deploymentId');
  const taskToken = stringOf(Item, 'taskToken');
  if (deploymentId === undefined || taskToken === undefined) return false;
  const wait = await readRolloutWait(deps, deploymentId, parkedWaitSchema);
  if (wait?.taskToken !== taskToken) return false;
  return settleRollout(deps, wait, {
    outcome: 'failed',
    error: 'RollbackRequested',
    message: reason,
    deploymentId,
  });
}
