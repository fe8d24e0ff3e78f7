import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import {
  type ArnScope,
  createAuthorizer,
  iamServiceOfTarget,
  type PolicyStatement,
  type ResourceTags,
  resolveIntrinsics,
  type StackValues,
} from './authorization.ts';
import { serverlessConfigPath } from './bus.ts';
import type { Emulator, InternalCall } from './emulator/index.ts';

type RawStatement = { Action: string[]; Resource: unknown; Condition?: unknown };
const require = createRequire(import.meta.url);
const permissions = require('../functions/permissions.cjs') as {
  permissionsFor: (prefix: string) => Record<string, RawStatement[]>;
  roleName: (functionKey: string) => string;
};

export interface StackOptions {
  readonly region: string;
  readonly account: string;
  /** The sandbox's stack name (`<service>-<stage>`): the state machine is named after it. */
  readonly stackName: string;
  readonly stateMachineArn: string;
  readonly parameterPrefix: string;
  /** The stack's CoordinationTable, by name. */
  readonly coordinationTable: string;
}

/** The defaults of the CloudFormation `Parameters` serverless.yml declares (what a plain deploy gets). */
export function stackParameterDefaults(path: URL | string = serverlessConfigPath): Record<string, string> {
  const config = parse(readFileSync(path, 'utf8')) as { resources?: unknown };
  const fragments = Array.isArray(config.resources) ? config.resources : [config.resources];
  return Object.fromEntries(
    fragments.flatMap((fragment) =>
      Object.entries(
        (fragment as { Parameters?: Record<string, { Default?: unknown }> })?.Parameters ?? {},
      ).map(([name, parameter]) => [name, String(parameter.Default ?? '')]),
    ),
  );
}

/** Each function's role from functions/permissions.cjs, resolved against the sandbox's stack. */
export function stackRoles(options: StackOptions): Record<string, PolicyStatement[]> {
  const stack: StackValues = {
    partition: 'aws',
    region: options.region,
    account: options.account,
    stackName: options.stackName,
    refs: {
      ...stackParameterDefaults(),
      DeployStateMachine: options.stateMachineArn,
      'CoordinationTable.Arn': `arn:aws:dynamodb:${options.region}:${options.account}:table/${options.coordinationTable}`,
    },
  };
  return Object.fromEntries(
    Object.entries(permissions.permissionsFor(options.parameterPrefix)).map(([key, statements]) => [
      key,
      statements.map(
        (statement) =>
          ({ Effect: 'Allow', ...(resolveIntrinsics(statement, stack) as object) }) as PolicyStatement,
      ),
    ]),
  );
}

/**
 * Makes the emulator refuse, as IAM would, every call a function's role does not allow. A
 * SIMULATION of IAM for the calls in sandbox/authorization.ts's table; calls with no caller
 * (tests seeding state) are not checked.
 */
export function enforceStackRoles(emulator: Emulator, options: StackOptions): void {
  const scope: ArnScope = {
    partition: 'aws',
    region: options.region,
    account: options.account,
    // The sandbox runs one state machine: every token it issues is that machine's.
    stateMachineOfToken: () => options.stateMachineArn,
  };
  const authorize = createAuthorizer({
    roles: stackRoles(options),
    scope,
    principalOf: (caller) =>
      `arn:aws:sts::${options.account}:assumed-role/${options.stackName}-${permissions.roleName(caller)}/${options.stackName}-${caller}`,
  });
  emulator.authorization.use(async (call, internal) => {
    const service = iamServiceOfTarget[call.targetPrefix];
    if (service === undefined) throw new Error(`no IAM service prefix known for ${call.targetPrefix}`);
    await authorize(call.caller, `${service}:${call.operation}`, call.input, ecsServiceTags(internal));
  });
}

/** Tags of ECS services, as DescribeServices with include TAGS reports them; other resources read as untagged. */
function ecsServiceTags(internal: InternalCall): ResourceTags {
  return async (resource) => {
    const match = /^arn:[^:]+:ecs:[^:]+:\d+:service\/([^/]+)\/([^/]+)$/.exec(resource);
    if (match === null) return undefined;
    try {
      const described = (await internal('ecs', 'DescribeServices', {
        cluster: match[1] ?? '',
        services: [match[2] ?? ''],
        include: ['TAGS'],
      })) as { services?: { tags?: { key: string; value: string }[] }[] };
      return Object.fromEntries((described.services?.[0]?.tags ?? []).map(({ key, value }) => [key, value]));
    } catch {
      // A cluster that does not exist has no tags; the call itself then fails as AWS says.
      return undefined;
    }
  };
}
