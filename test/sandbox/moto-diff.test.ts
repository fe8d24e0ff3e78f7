/**
 * Differential check: the SSM and ECS calls Gantry makes, replayed through the real SDK clients against
 * moto_server and against the sandbox emulator, must agree on what Gantry relies on (shapes, versions,
 * error names, deployment and task-definition fields). Differences we keep on purpose are left out of
 * the comparison here and listed in sandbox/emulator/README.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  TagResourceCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  LabelParameterVersionCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';

const ACCOUNT = '123456789012';
type Outcome = Record<string, unknown>;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts moto_server and resolves once it says it is listening: no polling, no sleeps. */
async function startMoto(port: number): Promise<ChildProcess> {
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`moto_server did not start in 30 s:\n${output}`)),
      30_000,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(`Running on http://127.0.0.1:${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        error.code === 'ENOENT'
          ? new Error(
              'moto_server is not on PATH: install moto[server] (pip install "moto[server]") to run this check',
            )
          : error,
      );
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`moto_server exited with ${code}:\n${output}`));
    });
  });
  return child;
}

async function errorOf(call: Promise<unknown>): Promise<{ name: string; message?: string }> {
  try {
    await call;
    return { name: 'no error' };
  } catch (error) {
    return error instanceof Error ? { name: error.name, message: error.message } : { name: String(error) };
  }
}

async function errorName(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'no error';
  } catch (error) {
    return error instanceof Error ? error.name : String(error);
  }
}

const keys = (value: object | undefined): string[] => Object.keys(value ?? {}).sort();
const without = (list: string[], ...drop: string[]): string[] => list.filter((k) => !drop.includes(k));

async function ssmSequence(ssm: SSMClient): Promise<Outcome> {
  const out: Outcome = {};
  const cfg = '/gantry/web/prod/config';
  out.create = await ssm.send(new PutParameterCommand({ Name: cfg, Value: '{"v":1}', Type: 'String' }));
  out.createAgain = await errorName(
    ssm.send(new PutParameterCommand({ Name: cfg, Value: 'x', Type: 'String' })),
  );
  out.createWithoutType = await errorName(
    ssm.send(new PutParameterCommand({ Name: '/gantry/x', Value: 'x' })),
  );
  out.overwrite = await ssm.send(
    new PutParameterCommand({ Name: cfg, Value: '{"v":2}', Overwrite: true, Description: 'config' }),
  );
  await ssm.send(new PutParameterCommand({ Name: cfg, Value: '{"v":3}', Overwrite: true }));
  const got = (await ssm.send(new GetParameterCommand({ Name: cfg }))).Parameter;
  out.get = { keys: keys(got), Type: got?.Type, Value: got?.Value, Version: got?.Version, ARN: got?.ARN };
  const selected = (await ssm.send(new GetParameterCommand({ Name: `${cfg}:1` }))).Parameter;
  out.getVersion = { Name: selected?.Name, Version: selected?.Version, Value: selected?.Value };

  const token = '/gantry-rollouts/ecs-svc/1234567890123456789';
  await ssm.send(new PutParameterCommand({ Name: token, Value: 'task-token', Type: 'SecureString' }));
  const encrypted = (await ssm.send(new GetParameterCommand({ Name: token }))).Parameter;
  const decrypted = (await ssm.send(new GetParameterCommand({ Name: token, WithDecryption: true })))
    .Parameter;
  // moto's stand-in ciphertext embeds the value ("kms:alias/aws/ssm:<value>"); only equality is compared.
  out.secure = {
    type: encrypted?.Type,
    hiddenWithoutDecryption: encrypted?.Value !== 'task-token',
    decrypted: decrypted?.Value,
  };

  for (let i = 0; i < 12; i++) {
    await ssm.send(
      new PutParameterCommand({
        Name: `/gantry-diff/app${String(i).padStart(2, '0')}/config`,
        Value: 'v',
        Type: 'String',
      }),
    );
  }
  await ssm.send(new PutParameterCommand({ Name: '/gantry-diff/top', Value: 'v', Type: 'String' }));
  const shallow = await ssm.send(new GetParametersByPathCommand({ Path: '/gantry-diff' }));
  const page1 = await ssm.send(new GetParametersByPathCommand({ Path: '/gantry-diff', Recursive: true }));
  const page2 = await ssm.send(
    new GetParametersByPathCommand({ Path: '/gantry-diff', Recursive: true, NextToken: page1.NextToken }),
  );
  out.byPath = {
    shallow: shallow.Parameters?.map((p) => p.Name),
    page1: page1.Parameters?.length,
    page1HasToken: page1.NextToken !== undefined,
    page2: page2.Parameters?.length,
    page2HasToken: page2.NextToken !== undefined,
    parameterKeys: keys(page1.Parameters?.[0]),
  };

  out.label = await ssm.send(
    new LabelParameterVersionCommand({ Name: cfg, Labels: ['live'], ParameterVersion: 1 }),
  );
  out.labelMoves = await ssm.send(
    new LabelParameterVersionCommand({ Name: cfg, Labels: ['live', '1bad', 'awsx'] }),
  );
  out.labelMissingVersion = await errorName(
    ssm.send(new LabelParameterVersionCommand({ Name: cfg, Labels: ['x'], ParameterVersion: 9 })),
  );
  const history = await ssm.send(new GetParameterHistoryCommand({ Name: cfg }));
  out.history = {
    versions: history.Parameters?.map((p) => [p.Version, p.Value, p.Labels, p.Description ?? null]),
    // Policies: AWS and the emulator return [], moto omits it; LastModifiedUser is compared for presence only.
    keys: without(keys(history.Parameters?.[1]), 'Policies'),
  };

  // Parameter Store keeps 100 versions: the 101st write drops the oldest, or is refused while the
  // oldest carries a label (PutParameter API reference, ParameterMaxVersionLimitExceeded).
  const busy = '/gantry/web/prod/release';
  for (let version = 1; version <= 100; version++) {
    await ssm.send(
      new PutParameterCommand({ Name: busy, Value: `v${version}`, Type: 'String', Overwrite: true }),
    );
  }
  await ssm.send(new LabelParameterVersionCommand({ Name: busy, Labels: ['live'], ParameterVersion: 1 }));
  out.versionLimitLabelled = await errorOf(
    ssm.send(new PutParameterCommand({ Name: busy, Value: 'v101', Overwrite: true })),
  );
  await ssm.send(new LabelParameterVersionCommand({ Name: busy, Labels: ['live'], ParameterVersion: 100 }));
  const written = await ssm.send(new PutParameterCommand({ Name: busy, Value: 'v101', Overwrite: true }));
  out.versionLimitDropsOldest = {
    version: written.Version,
    oldest: await errorName(ssm.send(new GetParameterCommand({ Name: `${busy}:1` }))),
    next: (await ssm.send(new GetParameterCommand({ Name: `${busy}:2` }))).Parameter?.Value,
  };

  out.delete = await ssm.send(new DeleteParameterCommand({ Name: cfg }));
  out.deleteAgain = await errorName(ssm.send(new DeleteParameterCommand({ Name: cfg })));
  out.getDeleted = await errorName(ssm.send(new GetParameterCommand({ Name: cfg })));
  out.historyDeleted = await errorName(ssm.send(new GetParameterHistoryCommand({ Name: cfg })));
  for (const value of Object.values(out)) {
    if (typeof value === 'object' && value !== null) delete (value as { $metadata?: unknown }).$metadata;
  }
  return out;
}

const TASK_DEFINITION: RegisterTaskDefinitionCommandInput = {
  family: 'web',
  networkMode: 'awsvpc',
  requiresCompatibilities: ['FARGATE'],
  cpu: '256',
  memory: '512',
  executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/web-exec`,
  containerDefinitions: [
    { name: 'web', image: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web:v1`, essential: true },
  ],
  tags: [{ key: 'app', value: 'web' }],
};

// Fields moto does not return although AWS does (see README): left out of the key comparison.
const TASK_DEFINITION_ONLY_AWS = ['registeredAt', 'registeredBy', 'requiresAttributes'];

async function ecsSequence(ecs: ECSClient): Promise<Outcome> {
  const out: Outcome = {};
  const described = await ecs.send(
    new DescribeServicesCommand({ cluster: 'prod', services: ['web', 'api'] }),
  );
  const service = described.services?.[0];
  out.describeServices = {
    serviceName: service?.serviceName,
    serviceArn: service?.serviceArn,
    clusterArn: service?.clusterArn,
    status: service?.status,
    desiredCount: service?.desiredCount,
    taskDefinition: service?.taskDefinition,
    // moto drops deploymentConfiguration.deploymentCircuitBreaker; AWS and the emulator return it.
    deployments: service?.deployments?.map((d) => ({
      // moto omits platformVersion on Fargate deployments, which AWS returns.
      keys: without(keys(d), 'platformVersion'),
      // moto's ids are ecs-svc/<random number>, not always 19 digits as AWS's.
      idPrefix: d.id?.startsWith('ecs-svc/'),
      status: d.status,
      taskDefinition: d.taskDefinition,
      desiredCount: d.desiredCount,
    })),
    failureReasons: described.failures?.map((f) => f.reason),
  };

  const current = await ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: 'web', include: ['TAGS'] }),
  );
  const td = current.taskDefinition;
  out.describeTaskDefinition = {
    keys: without(keys(td), ...TASK_DEFINITION_ONLY_AWS),
    revision: td?.revision,
    status: td?.status,
    compatibilities: td?.compatibilities,
    containerKeys: without(keys(td?.containerDefinitions?.[0]), 'systemControls'),
    tags: current.tags,
  };

  const {
    taskDefinitionArn: _arn,
    revision: _revision,
    status: _status,
    requiresAttributes: _requires,
    compatibilities: _compat,
    registeredAt: _at,
    registeredBy: _by,
    ...writable
  } = td ?? {};
  const registered = await ecs.send(
    new RegisterTaskDefinitionCommand({
      ...(writable as RegisterTaskDefinitionCommandInput),
      family: 'web',
      containerDefinitions: (td?.containerDefinitions ?? []).map((c) => ({ ...c, image: `${c.image}-v2` })),
    }),
  );
  const arn = registered.taskDefinition?.taskDefinitionArn ?? '';
  out.register = {
    arn,
    revision: registered.taskDefinition?.revision,
    image: registered.taskDefinition?.containerDefinitions?.[0]?.image,
  };
  await ecs.send(
    new TagResourceCommand({ resourceArn: arn, tags: [{ key: 'gantry:release', value: 'r2' }] }),
  );
  out.tagsAfterTagResource = (
    await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn, include: ['TAGS'] }))
  ).tags;

  const updated = (
    await ecs.send(new UpdateServiceCommand({ cluster: 'prod', service: 'web', taskDefinition: arn }))
  ).service;
  out.updateService = {
    taskDefinition: updated?.taskDefinition,
    // moto keeps a single deployment still naming the old task definition; AWS and the emulator start a
    // new PRIMARY deployment of the new one and keep the old one ACTIVE until the new one completes.
    primaryStatus: updated?.deployments?.[0]?.status,
    primaryRollout: [updated?.deployments?.[0]?.rolloutState, updated?.deployments?.[0]?.failedTasks],
  };

  out.errors = {
    unknownTaskDefinition: await errorName(
      ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'nope:3' })),
    ),
    unknownService: await errorName(
      ecs.send(new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition: arn })),
    ),
    unknownCluster: await errorName(
      ecs.send(new UpdateServiceCommand({ cluster: 'staging', service: 'web', taskDefinition: arn })),
    ),
    noContainerMemory: await errorName(
      ecs.send(
        new RegisterTaskDefinitionCommand({
          family: 'bare',
          containerDefinitions: [{ name: 'a', image: 'a' }],
        }),
      ),
    ),
  };
  return out;
}

/**
 * Every DynamoDB call and expression form Gantry makes (functions/src/lock.ts, release.ts,
 * coordination/waits.ts, the ReleaseLock integration), with the outcomes it relies on: which
 * condition passes, what ALL_OLD returns, the error names, Query's order and paging.
 */
async function dynamodbSequence(dynamodb: DynamoDBClient, TableName: string): Promise<Outcome> {
  const out: Outcome = {};
  const key = (sk: string) => ({ pk: { S: 'app#web#prod' }, sk: { S: sk } });
  const attempt = async (call: Promise<{ Attributes?: unknown; Item?: unknown }>) => {
    try {
      const { Attributes, Item } = await call;
      return { Attributes: Attributes ?? null, Item: Item ?? null };
    } catch (error) {
      return error instanceof Error ? error.name : String(error);
    }
  };
  const putLock = (holder: string, condition: object) =>
    attempt(
      dynamodb.send(
        new PutItemCommand({
          TableName,
          Item: { ...key('lock'), holder: { S: holder }, requestedAt: { N: '1000' } },
          ...condition,
        }),
      ),
    );
  out.lockAbsent = await putLock('exec-1', { ConditionExpression: 'attribute_not_exists(pk)' });
  out.lockHeld = await putLock('exec-2', { ConditionExpression: 'attribute_not_exists(pk)' });
  out.takeOverWrongHolder = await putLock('exec-2', {
    ConditionExpression: 'holder = :dead',
    ExpressionAttributeValues: { ':dead': { S: 'exec-9' } },
  });
  out.takeOverDeadHolder = await putLock('exec-2', {
    ConditionExpression: 'holder = :dead',
    ExpressionAttributeValues: { ':dead': { S: 'exec-1' } },
  });
  out.getLock = await attempt(
    dynamodb.send(new GetItemCommand({ TableName, Key: key('lock'), ConsistentRead: true })),
  );
  out.getMissing = await attempt(dynamodb.send(new GetItemCommand({ TableName, Key: key('nothing') })));

  const park = (executionArn: string, requestedAt: number, token: string) =>
    attempt(
      dynamodb.send(
        new PutItemCommand({
          TableName,
          Item: {
            ...key('waiter'),
            executionArn: { S: executionArn },
            requestedAt: { N: String(requestedAt) },
            taskToken: { S: token },
            expiresAt: { N: '1900000000' },
          },
          ConditionExpression: 'attribute_not_exists(pk) OR requestedAt < :requestedAt OR executionArn = :me',
          ExpressionAttributeValues: {
            ':requestedAt': { N: String(requestedAt) },
            ':me': { S: executionArn },
          },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
  out.parkFirst = await park('exec-3', 2000, 'token-3');
  out.parkNewer = await park('exec-4', 3000, 'token-4');
  out.parkOlder = await park('exec-5', 2500, 'token-5');
  out.parkSameAgain = await park('exec-4', 3000, 'token-4b');
  const deleteWhere = (sk: string, condition: object) =>
    attempt(dynamodb.send(new DeleteItemCommand({ TableName, Key: key(sk), ...condition })));
  out.claimWrongToken = await deleteWhere('waiter', {
    ConditionExpression: 'taskToken = :token',
    ExpressionAttributeValues: { ':token': { S: 'token-4' } },
  });
  out.claimToken = await deleteWhere('waiter', {
    ConditionExpression: 'taskToken = :token',
    ExpressionAttributeValues: { ':token': { S: 'token-4b' } },
    ReturnValues: 'ALL_OLD',
  });
  out.claimGone = await deleteWhere('waiter', { ReturnValues: 'ALL_OLD' });
  out.releaseNotHolder = await deleteWhere('lock', {
    ConditionExpression: 'holder = :me',
    ExpressionAttributeValues: { ':me': { S: 'exec-1' } },
  });
  out.releaseHolder = await deleteWhere('lock', {
    ConditionExpression: 'holder = :me',
    ExpressionAttributeValues: { ':me': { S: 'exec-2' } },
  });
  out.releaseAgain = await deleteWhere('lock', {
    ConditionExpression: 'holder = :me',
    ExpressionAttributeValues: { ':me': { S: 'exec-2' } },
  });

  for (const at of ['2025-06-03T10:00:00.000Z', '2025-06-03T11:00:00.000Z', '2025-06-03T09:00:00.000Z']) {
    await dynamodb.send(
      new PutItemCommand({
        TableName,
        Item: { ...key(`release#${at}#exec`), record: { S: at } },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
  }
  out.appendTwice = await attempt(
    dynamodb.send(
      new PutItemCommand({
        TableName,
        Item: { ...key('release#2025-06-03T10:00:00.000Z#exec'), record: { S: 'again' } },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    ),
  );
  const query = (limit: number, start?: Record<string, { S: string }>) =>
    dynamodb.send(
      new QueryCommand({
        TableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :release)',
        ExpressionAttributeValues: { ':pk': { S: 'app#web#prod' }, ':release': { S: 'release#' } },
        ScanIndexForward: false,
        Limit: limit,
        ConsistentRead: true,
        ...(start && { ExclusiveStartKey: start }),
      }),
    );
  const newest = await query(1);
  out.queryNewest = {
    records: newest.Items?.map((item) => item.record?.S),
    last: newest.LastEvaluatedKey ?? null,
  };
  const next = await query(5, newest.LastEvaluatedKey as Record<string, { S: string }>);
  out.queryNextPage = {
    records: next.Items?.map((item) => item.record?.S),
    last: next.LastEvaluatedKey ?? null,
    count: next.Count,
  };
  // AWS refuses these before looking at the item; moto does not (it evaluates the condition, or
  // sends a body the SDK cannot parse): compared with AWS's documented answer below, not with moto.
  out.refusedBeforeEvaluation = {
    unusedValue: await attempt(
      dynamodb.send(
        new DeleteItemCommand({
          TableName,
          Key: key('lock'),
          ConditionExpression: 'holder = :me',
          ExpressionAttributeValues: { ':me': { S: 'x' }, ':unused': { S: 'y' } },
        }),
      ),
    ),
    undefinedValue: await attempt(
      dynamodb.send(
        new DeleteItemCommand({ TableName, Key: key('lock'), ConditionExpression: 'holder = :me' }),
      ),
    ),
  };
  out.errors = {
    keyMismatch: await attempt(
      dynamodb.send(new GetItemCommand({ TableName, Key: { pk: { S: 'app#web#prod' } } })),
    ),
    reservedWord: await attempt(
      dynamodb.send(
        new DeleteItemCommand({
          TableName,
          Key: key('lock'),
          ConditionExpression: 'status = :s',
          ExpressionAttributeValues: { ':s': { S: 'x' } },
        }),
      ),
    ),
    reservedWordThroughPlaceholder: await attempt(
      dynamodb.send(
        new DeleteItemCommand({
          TableName,
          Key: key('lock'),
          ConditionExpression: 'attribute_not_exists(#status)',
          ExpressionAttributeNames: { '#status': 'status' },
        }),
      ),
    ),
    returnAllNewOnPut: await attempt(
      dynamodb.send(new PutItemCommand({ TableName, Item: key('x'), ReturnValues: 'ALL_NEW' })),
    ),
    noTable: await attempt(
      dynamodb.send(new GetItemCommand({ TableName: 'no-such-table', Key: key('lock') })),
    ),
  };
  return out;
}

let moto: ChildProcess | undefined;
let emulator: Emulator | undefined;
type Outcomes = { ssm: Outcome; ecs: Outcome; dynamodb: Outcome };
const results: { moto: Outcomes; emulator: Outcomes } = {
  moto: { ssm: {}, ecs: {}, dynamodb: {} },
  emulator: { ssm: {}, ecs: {}, dynamodb: {} },
};

let startupError: unknown;
/** Client configs for both sides, for the describe blocks that replay their own calls. */
let motoClientConfig: ConstructorParameters<typeof SQSClient>[0] | undefined;

beforeAll(async () => {
  const port = await freePort();
  try {
    moto = await startMoto(port);
  } catch (error) {
    // Kept for every test to throw: a missing moto_server must fail the check, never skip it.
    startupError = error;
    return;
  }
  // moto has no throughput quotas and this replay runs on a clock nobody moves: the quotas are
  // unit-tested in emulator.test.ts, the behaviours both implement are compared here.
  emulator = await startEmulator({ accountId: ACCOUNT, quotas: 'off' });
  const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
  const motoConfig = {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
  };
  const emulatorConfig = { ...emulator.clientConfig, maxAttempts: 1 };
  motoClientConfig = motoConfig;

  // Seeding differs (the emulator has no CreateService); the replayed Gantry calls are the same.
  const motoEcs = new ECSClient(motoConfig);
  await motoEcs.send(new CreateClusterCommand({ clusterName: 'prod' }));
  await motoEcs.send(new RegisterTaskDefinitionCommand(TASK_DEFINITION));
  await motoEcs.send(
    new CreateServiceCommand({
      cluster: 'prod',
      serviceName: 'web',
      taskDefinition: 'web:1',
      desiredCount: 2,
      launchType: 'FARGATE',
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
    }),
  );
  emulator.ecs.createService({
    cluster: 'prod',
    service: 'web',
    taskDefinition: JSON.parse(JSON.stringify(TASK_DEFINITION)),
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
  });

  results.moto.ssm = await ssmSequence(new SSMClient(motoConfig));
  results.moto.ecs = await ecsSequence(motoEcs);
  results.emulator.ssm = await ssmSequence(new SSMClient(emulatorConfig));
  results.emulator.ecs = await ecsSequence(new ECSClient(emulatorConfig));

  // The stack creates the table (serverless.yml CoordinationTable); the emulator is seeded.
  const coordination = 'gantry-diff-coordination';
  await new DynamoDBClient(motoConfig).send(
    new CreateTableCommand({
      TableName: coordination,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }),
  );
  emulator.dynamodb.createTable({
    name: coordination,
    partitionKey: 'pk',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
  });
  results.moto.dynamodb = await dynamodbSequence(new DynamoDBClient(motoConfig), coordination);
  results.emulator.dynamodb = await dynamodbSequence(new DynamoDBClient(emulatorConfig), coordination);
});

afterAll(async () => {
  moto?.kill();
  await emulator?.close();
});

const SSM_STEPS = [
  'create',
  'createAgain',
  'createWithoutType',
  'overwrite',
  'get',
  'getVersion',
  'secure',
  'byPath',
  'label',
  'labelMoves',
  'labelMissingVersion',
  'history',
  'versionLimitLabelled',
  'versionLimitDropsOldest',
  'delete',
  'deleteAgain',
  'getDeleted',
  'historyDeleted',
];

const ECS_STEPS = [
  'describeServices',
  'describeTaskDefinition',
  'register',
  'tagsAfterTagResource',
  'updateService',
  'errors',
];

const DYNAMODB_STEPS = [
  'lockAbsent',
  'lockHeld',
  'takeOverWrongHolder',
  'takeOverDeadHolder',
  'getLock',
  'getMissing',
  'parkFirst',
  'parkNewer',
  'parkOlder',
  'parkSameAgain',
  'claimWrongToken',
  'claimToken',
  'claimGone',
  'releaseNotHolder',
  'releaseHolder',
  'releaseAgain',
  'appendTwice',
  'queryNewest',
  'queryNextPage',
  'errors',
];

describe('emulator against moto_server', () => {
  it.each(DYNAMODB_STEPS)('agrees on DynamoDB step %s', (step) => {
    // Assess
    if (startupError !== undefined) throw startupError;
    expect(results.moto.dynamodb[step]).toBeDefined();
    expect(results.emulator.dynamodb[step]).toEqual(results.moto.dynamodb[step]);
  });

  it('refuses an unused or undefined expression value before evaluating the condition, as AWS does', () => {
    // AWS answers ValidationException "Value provided in ExpressionAttributeValues unused in
    // expressions" / "An expression attribute value used in expression is not defined" (DynamoDB
    // API reference, "Common errors": ValidationException); moto 5 evaluates the condition instead.
    if (startupError !== undefined) throw startupError;
    expect(results.emulator.dynamodb.refusedBeforeEvaluation).toEqual({
      unusedValue: 'ValidationException',
      undefinedValue: 'ValidationException',
    });
  });

  it.each(SSM_STEPS)('agrees on SSM step %s', (step) => {
    // Assess
    if (startupError !== undefined) throw startupError;
    expect(results.moto.ssm[step]).toBeDefined();
    expect(results.emulator.ssm[step]).toEqual(results.moto.ssm[step]);
  });

  it.each(ECS_STEPS)('agrees on ECS step %s', (step) => {
    // Assess
    if (startupError !== undefined) throw startupError;
    expect(results.moto.ecs[step]).toBeDefined();
    expect(results.emulator.ecs[step]).toEqual(results.moto.ecs[step]);
  });
});

/**
 * The SQS calls of the swarm target (Lambda side sends the wake-up, the agent long-polls and
 * deletes), replayed against both. Queue URLs differ in host (moto answers with its own), so only
 * their path is compared.
 */
async function sqsSequence(sqs: SQSClient): Promise<Outcome> {
  const out: Outcome = {};
  const { QueueUrl: queue } = await sqs.send(new CreateQueueCommand({ QueueName: 'gantry-swarm-prod' }));
  out.queuePath = new URL(queue ?? 'http://x/').pathname;
  const sent = await sqs.send(
    new SendMessageCommand({ QueueUrl: queue, MessageBody: '{"wake":"web/prod"}' }),
  );
  out.send = { keys: without(keys(sent), '$metadata'), md5: sent.MD5OfMessageBody };
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue,
      WaitTimeSeconds: 1,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 30,
    }),
  );
  const message = received.Messages?.[0];
  out.receive = {
    count: received.Messages?.length,
    keys: keys(message),
    body: message?.Body,
    sameId: message?.MessageId === sent.MessageId,
  };
  const hidden = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, WaitTimeSeconds: 1 }));
  out.hiddenWhileInFlight = { messages: hidden.Messages ?? 'none' };
  await sqs.send(new DeleteMessageCommand({ QueueUrl: queue, ReceiptHandle: message?.ReceiptHandle }));
  out.afterDelete = {
    messages: (await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue }))).Messages ?? 'none',
  };
  out.errors = {
    unknownQueue: await errorName(
      sqs.send(new SendMessageCommand({ QueueUrl: `${queue}-missing`, MessageBody: 'x' })),
    ),
    waitTooLong: await errorName(
      sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, WaitTimeSeconds: 21 })),
    ),
  };
  return out;
}

/**
 * The agent's ECR login. moto answers a fixed `expiresAt` (2015-01-01), so the 12-hour lifetime is
 * not compared (the emulator follows the API reference); the user, the shape and the proxy
 * endpoint are.
 */
async function ecrAuthorization(ecr: ECRClient): Promise<Outcome> {
  const data = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData ?? [];
  return {
    count: data.length,
    keys: keys(data[0]),
    user: Buffer.from(data[0]?.authorizationToken ?? '', 'base64')
      .toString()
      .split(':')[0],
    proxyEndpoint: data[0]?.proxyEndpoint,
  };
}

describe('emulator against moto_server: SQS and ECR login (the swarm agent)', () => {
  const sqsResults: { moto: Outcome; emulator: Outcome } = { moto: {}, emulator: {} };

  beforeAll(async () => {
    if (startupError !== undefined || emulator === undefined || motoClientConfig === undefined) return;
    const onMoto = new SQSClient(motoClientConfig);
    const onEmulator = new SQSClient({ ...emulator.clientConfig, maxAttempts: 1 });
    sqsResults.moto = await sqsSequence(onMoto);
    sqsResults.emulator = await sqsSequence(onEmulator);
    onMoto.destroy();
    onEmulator.destroy();
    const ecrOnMoto = new ECRClient(motoClientConfig);
    const ecrOnEmulator = new ECRClient({ ...emulator.clientConfig, maxAttempts: 1 });
    sqsResults.moto.ecrAuthorization = await ecrAuthorization(ecrOnMoto);
    sqsResults.emulator.ecrAuthorization = await ecrAuthorization(ecrOnEmulator);
    ecrOnMoto.destroy();
    ecrOnEmulator.destroy();
  });

  it.each([
    'queuePath',
    'send',
    'receive',
    'hiddenWhileInFlight',
    'afterDelete',
    'errors',
    'ecrAuthorization',
  ])('agrees on step %s', (step) => {
    // Assess
    if (startupError !== undefined) throw startupError;
    expect(sqsResults.moto[step]).toBeDefined();
    expect(sqsResults.emulator[step]).toEqual(sqsResults.moto[step]);
  });
});
