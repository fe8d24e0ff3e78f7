import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LightsailClient } from '@aws-sdk/client-lightsail';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { WaitDependencies } from '../src/coordination/waits.ts';
import type { GateDependencies } from '../src/ecs/gates.ts';
import type { RolloutDependencies } from '../src/ecs/rollout.ts';
import type { LockDependencies } from '../src/lock.ts';
import type { TargetClients } from '../src/targets/target.ts';
import { type HandlerSettings, lazily } from './runtime.ts';

/** The clients every handler of the coordination table shares, each built on first use. */
export function coordinationClients(settings: HandlerSettings): LockDependencies {
  return lazily<LockDependencies>({
    table: () => ({ dynamodb: new DynamoDBClient(settings.client), tableName: settings.coordinationTable }),
    sfn: () => new SFNClient(settings.client),
    now: () => () => new Date(),
  });
}

/** The targets' clients, each built on first use: a function never builds a target's it does not meet. */
export function targetClients(settings: HandlerSettings): TargetClients {
  return lazily<TargetClients>({
    ecs: () => new ECSClient(settings.client),
    ssm: () => new SSMClient(settings.client),
    sqs: () => new SQSClient(settings.client),
    lightsail: () => new LightsailClient(settings.client),
    parameterPrefix: () => settings.parameterPrefix,
  });
}

/** The coordination clients and, built on first use too, what else a handler needs beside them. */
function withCoordination<Extra extends object>(
  settings: HandlerSettings,
  extra: { [K in keyof Extra]: () => Extra[K] },
): WaitDependencies & Extra {
  const coordination = coordinationClients(settings);
  return lazily<WaitDependencies & Extra>({
    table: () => coordination.table,
    sfn: () => coordination.sfn,
    now: () => coordination.now,
    ...extra,
  } as { [K in keyof (WaitDependencies & Extra)]: () => (WaitDependencies & Extra)[K] });
}

/** What onEcsEvent needs: the coordination table and ECS. */
export function ecsRolloutClients(settings: HandlerSettings): RolloutDependencies {
  return withCoordination(settings, { ecs: () => new ECSClient(settings.client) });
}

/** What WaitForRollout and CheckRollout need: the parked waits and the targets. */
export interface RolloutWaitDependencies extends WaitDependencies {
  targets: TargetClients;
}

export function rolloutWaitClients(settings: HandlerSettings): RolloutWaitDependencies {
  return withCoordination(settings, { targets: () => targetClients(settings) });
}

/** What DecideGate needs: ECS to answer the hook, CloudWatch for the gate alarms, fetch for the probe. */
export function gateClients(settings: HandlerSettings): GateDependencies {
  return lazily<GateDependencies>({
    ecs: () => new ECSClient(settings.client),
    cloudwatch: () => new CloudWatchClient(settings.client),
    fetch: () => globalThis.fetch,
    now: () => () => new Date(),
  });
}
