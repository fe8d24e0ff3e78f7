/**
 * One-time upgrade to the DynamoDB coordination table (docs/upgrading.md):
 *
 *   GANTRY_COORDINATION_TABLE=<table> DEPLOY_STATE_MACHINE_ARN=<arn> \
 *     node --import tsx functions/scripts/migrate-coordination.ts [--stop-started-before <ISO time>]
 *
 * Uses the default credential chain and region, like the AWS CLI; prints a JSON report.
 */
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { migrateCoordination } from '../src/coordination/migrate.ts';

const { values } = parseArgs({
  options: {
    'stop-started-before': { type: 'string' },
    'parameter-prefix': { type: 'string', default: process.env.GANTRY_PARAMETER_PREFIX ?? '/gantry' },
  },
  strict: true,
});

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

const stopAt = values['stop-started-before'];
if (stopAt !== undefined && Number.isNaN(Date.parse(stopAt))) {
  throw new Error(`--stop-started-before must be an ISO 8601 time, got "${stopAt}"`);
}
const report = await migrateCoordination(
  {
    ssm: new SSMClient({}),
    sfn: new SFNClient({}),
    table: { dynamodb: new DynamoDBClient({}), tableName: required('GANTRY_COORDINATION_TABLE') },
  },
  {
    parameterPrefix: values['parameter-prefix'],
    stateMachineArn: required('DEPLOY_STATE_MACHINE_ARN'),
    ...(stopAt !== undefined && { stopStartedBefore: new Date(stopAt) }),
  },
);
console.log(JSON.stringify(report, null, 2));
if (report.status === 'refused') process.exitCode = 1;
