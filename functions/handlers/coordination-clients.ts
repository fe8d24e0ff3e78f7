import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { LockDependencies } from '../src/lock.ts';
import { coordinationTableVariable, requiredEnv } from './runtime.ts';

/** The clients every handler of the coordination table shares, created once per instance. */
export const coordination: LockDependencies = {
  table: { dynamodb: new DynamoDBClient({}), tableName: requiredEnv(coordinationTableVariable) },
  sfn: new SFNClient({}),
  now: () => new Date(),
};
