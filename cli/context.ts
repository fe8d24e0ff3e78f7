import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LightsailClient } from '@aws-sdk/client-lightsail';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { CoordinationTable } from '../functions/src/coordination/table.ts';
import type { TargetClients } from '../functions/src/targets/target.ts';
import { UsageError } from './output.ts';
import { sandboxDefaults } from './sandbox-endpoint.ts';

/** The options every command takes (before or after its own). */
export interface GlobalOptions {
  region?: string;
  profile?: string;
  endpoint?: string;
  sandbox?: boolean;
  json?: boolean;
  prefix?: string;
  table?: string;
  stateMachine?: string;
}

export interface ContextHooks {
  /** Called once per API call a command makes (retries not counted): how the README's costs are measured. */
  onCall?: (call: { client: string; command: string }) => void;
}

type AwsClient = SSMClient | ECRClient | ECSClient | SFNClient | DynamoDBClient | SQSClient | LightsailClient;

/** Counts each command sent, at the first middleware step: before, and so apart from, retries. */
function countCalls(client: AwsClient, onCall: NonNullable<ContextHooks['onCall']>): void {
  // Every client's stack takes the same initialize middleware; one client's type stands for all.
  (client.middlewareStack as unknown as SSMClient['middlewareStack']).add(
    (next, context) => (args) => {
      onCall({ client: context.clientName ?? '?', command: context.commandName ?? '?' });
      return next(args);
    },
    { step: 'initialize', name: 'gantryCountCalls' },
  );
}

/** Every AWS client a command may use, created lazily so a command builds only what it calls. */
export interface Clients {
  ssm: SSMClient;
  ecr: ECRClient;
  ecs: ECSClient;
  sfn: SFNClient;
  dynamodb: DynamoDBClient;
}

export interface CliContext {
  clients: Clients;
  /** The targets' clients, as the Lambdas' handler factories build them. */
  targets: TargetClients;
  parameterPrefix: string;
  /** The coordination table; a usage error when neither a flag nor the environment names it. */
  table(): CoordinationTable;
  /** The deploy state machine's ARN, likewise. */
  stateMachineArn(): string;
  json: boolean;
  env: NodeJS.ProcessEnv;
}

/**
 * Where the CLI points: AWS through the default credential chain (`--region`, `--profile`), or an
 * endpoint (`--endpoint`, `AWS_ENDPOINT_URL`: LocalStack, the sandbox), `--sandbox` meaning the
 * sandbox's default one. The sandbox's emulator wants an Authorization header but checks no
 * signature (sandbox/emulator/README.md), so any credentials do; dummy ones are supplied when the
 * environment has none, only for the sandbox.
 */
export function createContext(
  options: GlobalOptions,
  env: NodeJS.ProcessEnv,
  hooks: ContextHooks = {},
): CliContext {
  const sandbox = options.sandbox === true;
  const endpoint = options.endpoint ?? (sandbox ? sandboxDefaults.endpoint : undefined);
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new UsageError(`--endpoint "${endpoint}" is not an http(s) URL`);
  }
  const region = options.region ?? (sandbox ? sandboxDefaults.region : undefined);
  const credentials =
    sandbox && !env.AWS_ACCESS_KEY_ID ? { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' } : undefined;
  const config = {
    ...(endpoint !== undefined && { endpoint }),
    ...(region !== undefined && { region }),
    ...(options.profile !== undefined && { profile: options.profile }),
    ...(credentials && { credentials }),
    // A person waits at the prompt: fail after a few tries rather than back off for minutes.
    maxAttempts: 4,
  };
  const lazy = <T extends AwsClient>(create: () => T): (() => T) => {
    let client: T | undefined;
    return () => {
      if (client === undefined) {
        client = create();
        if (hooks.onCall) countCalls(client, hooks.onCall);
      }
      return client;
    };
  };
  const ssm = lazy(() => new SSMClient(config));
  const ecr = lazy(() => new ECRClient(config));
  const ecs = lazy(() => new ECSClient(config));
  const sfn = lazy(() => new SFNClient(config));
  const dynamodb = lazy(() => new DynamoDBClient(config));
  const sqs = lazy(() => new SQSClient(config));
  const lightsail = lazy(() => new LightsailClient(config));
  const clients: Clients = {
    get ssm() {
      return ssm();
    },
    get ecr() {
      return ecr();
    },
    get ecs() {
      return ecs();
    },
    get sfn() {
      return sfn();
    },
    get dynamodb() {
      return dynamodb();
    },
  };
  const named = (flag: string, variable: string, value: string | undefined, fallback: string) => {
    const found = value ?? env[variable] ?? (sandbox ? fallback : undefined);
    if (!found) throw new UsageError(`give ${flag} or set ${variable} (the stack's output)`);
    return found;
  };
  const parameterPrefix = options.prefix ?? env.GANTRY_PARAMETER_PREFIX ?? sandboxDefaults.parameterPrefix;
  return {
    clients,
    targets: {
      get ecs() {
        return ecs();
      },
      get ssm() {
        return ssm();
      },
      get sqs() {
        return sqs();
      },
      get lightsail() {
        return lightsail();
      },
      parameterPrefix,
    },
    parameterPrefix,
    table: () => ({
      dynamodb: clients.dynamodb,
      tableName: named(
        '--table',
        'GANTRY_COORDINATION_TABLE',
        options.table,
        sandboxDefaults.coordinationTable,
      ),
    }),
    stateMachineArn: () =>
      named(
        '--state-machine',
        'GANTRY_STATE_MACHINE_ARN',
        options.stateMachine,
        sandboxDefaults.stateMachineArn,
      ),
    json: options.json === true,
    env,
  };
}
