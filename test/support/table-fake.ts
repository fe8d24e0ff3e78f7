import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  appEnvPartition,
  type CoordinationTable,
  keyOf,
  partitionKey,
  sortKey,
  ttlAttribute,
} from '../../functions/src/coordination/table.ts';
import { DynamoDbState, type Item } from '../../sandbox/emulator/dynamodb.ts';
import { AwsError, type JsonObject, Params } from '../../sandbox/emulator/protocol.ts';

export const tableName = 'gantry-test-coordination';

/**
 * The coordination table for unit tests: a DynamoDBClient mock whose commands run against the
 * sandbox emulator's DynamoDB model, so condition expressions are really evaluated (the model is
 * held to moto by test/sandbox/moto-diff.test.ts). Errors keep DynamoDB's names.
 */
export function fakeCoordinationTable() {
  const state = new DynamoDbState('eu-west-1', '123456789012');
  state.createTable({ name: tableName, partitionKey, sortKey, ttlAttribute });
  const operations = state.service().operations;
  const mock = mockClient(DynamoDBClient);
  const route = (operation: string) => async (input: object) => {
    try {
      const handle = operations[operation]?.handle;
      if (!handle) throw new Error(`${operation} is not emulated`);
      return await handle(new Params(structuredClone(input) as JsonObject, operation, 'ValidationException'));
    } catch (error) {
      if (error instanceof AwsError)
        throw Object.assign(new Error(error.message), { name: error.name, $metadata: {} });
      throw error;
    }
  };
  mock.on(GetItemCommand).callsFake(route('GetItem'));
  mock.on(PutItemCommand).callsFake(route('PutItem'));
  mock.on(UpdateItemCommand).callsFake(route('UpdateItem'));
  mock.on(DeleteItemCommand).callsFake(route('DeleteItem'));
  mock.on(QueryCommand).callsFake(route('Query'));
  const table: CoordinationTable = { dynamodb: new DynamoDBClient({ region: 'eu-west-1' }), tableName };
  return {
    table,
    mock,
    state,
    item: (pk: string, sk: string): Item | undefined => state.getItem(tableName, keyOf(pk, sk) as Item),
    appEnvItem: (app: string, env: string, sk: string) =>
      state.getItem(tableName, keyOf(appEnvPartition(app, env), sk) as Item),
    put: (item: Item) => state.putItem(tableName, item),
    items: () => state.items(tableName),
  };
}
