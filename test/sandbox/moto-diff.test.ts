/**
 * Differential check: the SSM and ECS calls Gantry makes, replayed through the real SDK clients against
 * moto_server and against the sandbox emulator, must agree on what Gantry relies on (shapes, versions,
 * error names, deployment and task-definition fields). Differences we keep on purpose are left out of
 * the comparison here and listed in sandbox/emulator/README.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
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

let moto: ChildProcess | undefined;
let emulator: Emulator | undefined;
const results: { moto: { ssm: Outcome; ecs: Outcome }; emulator: { ssm: Outcome; ecs: Outcome } } = {
  moto: { ssm: {}, ecs: {} },
  emulator: { ssm: {}, ecs: {} },
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
  emulator = await startEmulator({ accountId: ACCOUNT });
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

describe('emulator against moto_server', () => {
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
