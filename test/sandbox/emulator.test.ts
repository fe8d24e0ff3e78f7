import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { CreateServiceCommand, ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetInstanceCommand, LightsailClient } from '@aws-sdk/client-lightsail';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  DeleteParameterCommand,
  DescribeParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  LabelParameterVersionCommand,
  PutParameterCommand,
  SSMClient,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  type AwsEvent,
  type Emulator,
  type SfnHandlers,
  SSM_THROUGHPUT,
  startEmulator,
} from '../../sandbox/emulator/index.ts';

let emulator: Emulator;
let ssm: SSMClient;

beforeEach(async () => {
  emulator = await startEmulator({ startTime: Date.UTC(2025, 0, 1) });
  ssm = new SSMClient({ ...emulator.clientConfig, maxAttempts: 1 });
});

afterEach(async () => {
  await emulator.close();
});

async function raw(target: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(emulator.url, {
    method: 'POST',
    headers: {
      authorization: 'AWS4-HMAC-SHA256 Credential=x',
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': target,
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

async function put(
  name: string,
  value: string,
  extra: Partial<{ Type: 'String' | 'SecureString'; Overwrite: boolean }> = {},
) {
  return ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', ...extra }));
}

describe('protocol', () => {
  it('answers an operation it does not emulate with UnsupportedOperation naming it', async () => {
    // Act
    const result = ssm.send(new DescribeParametersCommand({}));

    // Assess
    await expect(result).rejects.toMatchObject({
      name: 'UnsupportedOperation',
      message: expect.stringContaining('DescribeParameters'),
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('answers a modelled parameter it does not emulate with UnsupportedParameter naming it', async () => {
    // Act
    const result = ssm.send(
      new PutParameterCommand({ Name: '/a', Value: 'v', Type: 'String', Tags: [{ Key: 'k', Value: 'v' }] }),
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: 'UnsupportedParameter',
      message: expect.stringContaining("'Tags'"),
    });
  });

  it('rejects a key no SDK would send', async () => {
    // Act
    const response = await raw('AmazonSSM.GetParameter', { Name: '/a', Nmae: 'typo' });

    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      __type: 'UnsupportedParameter',
      message: expect.stringContaining("'Nmae'"),
    });
  });

  it('answers a Lightsail operation it does not emulate with UnsupportedOperation', async () => {
    // Prepare
    const lightsail = new LightsailClient({ ...emulator.clientConfig, maxAttempts: 1 });

    // Act
    const result = lightsail.send(new GetInstanceCommand({ instanceName: 'web-1' }));

    // Assess
    await expect(result).rejects.toMatchObject({
      name: 'UnsupportedOperation',
      message: expect.stringContaining('lightsail GetInstance is not emulated'),
    });
  });

  it('answers an unknown service target with UnsupportedOperation', async () => {
    // Act
    const response = await raw('Kinesis_20131202.ListStreams', {});

    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'UnsupportedOperation' });
  });

  it('requires an Authorization header but not a valid signature', async () => {
    // Act
    const unsigned = await fetch(emulator.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.GetParameter' },
      body: '{"Name":"/a"}',
    });
    const badlySigned = await raw('AmazonSSM.GetParameter', { Name: '/a' });

    // Assess
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
    expect(await badlySigned.json()).toMatchObject({ __type: 'ParameterNotFound' });
  });

  it('refuses a body in another protocol', async () => {
    // Act
    const response = await raw(
      'AmazonSSM.GetParameter',
      { Name: '/a' },
      { 'content-type': 'application/xml' },
    );

    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'UnsupportedOperation' });
  });

  it('accepts the JSON 1.0 content type Step Functions uses', async () => {
    // Act
    const response = await raw(
      'AmazonSSM.GetParameter',
      { Name: '/a' },
      { 'content-type': 'application/x-amz-json-1.0' },
    );

    // Assess
    expect(await response.json()).toMatchObject({ __type: 'ParameterNotFound' });
  });
});

describe('fault injection and call log', () => {
  it('fails the next matching calls with the injected error, then recovers', async () => {
    // Prepare
    await put('/gantry/web/prod/config', '{}');
    emulator.faults.add({
      service: 'ssm',
      operation: 'GetParameter',
      times: 2,
      error: 'ThrottlingException',
    });

    // Act
    const first = ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/config' }));
    const second = ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/config' }));
    await expect(first).rejects.toMatchObject({
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(second).rejects.toMatchObject({ name: 'ThrottlingException' });
    const third = await ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/config' }));

    // Assess
    expect(third.Parameter?.Value).toBe('{}');
    expect(emulator.faults.pending()).toBe(0);
  });

  it('answers 5xx faults with status 500 and leaves other operations alone', async () => {
    // Prepare
    await put('/a', 'v');
    emulator.faults.add({ operation: 'DeleteParameter', times: 1, error: 'InternalServerError' });

    // Act
    const untouched = await ssm.send(new GetParameterCommand({ Name: '/a' }));
    const failed = ssm.send(new DeleteParameterCommand({ Name: '/a' }));

    // Assess
    expect(untouched.Parameter?.Value).toBe('v');
    await expect(failed).rejects.toMatchObject({
      name: 'InternalServerError',
      $metadata: { httpStatusCode: 500 },
    });
  });

  it('lets the SDK retry through a single throttling fault', async () => {
    // Prepare
    const retrying = new SSMClient({ ...emulator.clientConfig, maxAttempts: 2 });
    await put('/a', 'v');
    emulator.faults.add({ service: 'ssm', times: 1, error: 'ThrottlingException' });

    // Act
    const result = await retrying.send(new GetParameterCommand({ Name: '/a' }));

    // Assess
    expect(result.$metadata.attempts).toBe(2);
  });

  it('logs calls with SecureString values and task tokens redacted', async () => {
    // Prepare
    const sfn = new SFNClient({ ...emulator.clientConfig, maxAttempts: 1 });
    emulator.sfn.setHandlers(handlers({ sendTaskSuccess: () => undefined }));

    // Act
    await put('/gantry-rollouts/ecs-svc/1', 'secret-token', { Type: 'SecureString' });
    await ssm.send(
      new PutParameterCommand({ Name: '/gantry-rollouts/ecs-svc/1', Value: 'second', Overwrite: true }),
    );
    await sfn.send(new SendTaskSuccessCommand({ taskToken: 'token-123', output: '{}' }));
    await expect(ssm.send(new GetParameterCommand({ Name: '/missing' }))).rejects.toThrow();

    // Assess
    const log = JSON.stringify(emulator.calls);
    expect(log).not.toContain('secret-token');
    expect(log).not.toContain('second');
    expect(log).not.toContain('token-123');
    expect(emulator.calls.map((c) => `${c.service}.${c.operation}${c.error ? `!${c.error}` : ''}`)).toEqual([
      'ssm.PutParameter',
      'ssm.PutParameter',
      'sfn.SendTaskSuccess',
      'ssm.GetParameter!ParameterNotFound',
    ]);
  });
});

describe('SSM', () => {
  it('creates version 1, refuses to overwrite without Overwrite, then increments versions', async () => {
    // Act
    const created = await put('/gantry/web/prod/lock', '{"owner":"a"}');
    const conflict = put('/gantry/web/prod/lock', '{"owner":"b"}');
    await expect(conflict).rejects.toMatchObject({ name: 'ParameterAlreadyExists' });
    const overwritten = await put('/gantry/web/prod/lock', '{"owner":"c"}', { Overwrite: true });
    const read = await ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/lock' }));

    // Assess
    expect(created.Version).toBe(1);
    expect(overwritten).toMatchObject({ Version: 2, Tier: 'Standard' });
    expect(read.Parameter).toMatchObject({
      Name: '/gantry/web/prod/lock',
      Type: 'String',
      Value: '{"owner":"c"}',
      Version: 2,
      ARN: 'arn:aws:ssm:us-east-1:000000000000:parameter/gantry/web/prod/lock',
      DataType: 'text',
      LastModifiedDate: new Date(Date.UTC(2025, 0, 1)),
    });
  });

  it('requires a Type to create a parameter, as AWS does', async () => {
    // Act
    const result = ssm.send(new PutParameterCommand({ Name: '/new', Value: 'v' }));

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('rejects StringList loudly', async () => {
    // Act
    const result = ssm.send(new PutParameterCommand({ Name: '/l', Value: 'a,b', Type: 'StringList' }));

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'UnsupportedParameter' });
  });

  it('returns SecureString values only WithDecryption', async () => {
    // Prepare
    await put('/gantry-rollouts/ecs-svc/9', 'task-token', { Type: 'SecureString' });

    // Act
    const hidden = await ssm.send(new GetParameterCommand({ Name: '/gantry-rollouts/ecs-svc/9' }));
    const shown = await ssm.send(
      new GetParameterCommand({ Name: '/gantry-rollouts/ecs-svc/9', WithDecryption: true }),
    );

    // Assess
    expect(hidden.Parameter?.Type).toBe('SecureString');
    expect(hidden.Parameter?.Value).not.toContain('task-token');
    expect(shown.Parameter?.Value).toBe('task-token');
  });

  it('deletes, then answers ParameterNotFound for read and delete', async () => {
    // Prepare
    await put('/gantry/web/prod/lock', '{}');

    // Act
    await ssm.send(new DeleteParameterCommand({ Name: '/gantry/web/prod/lock' }));

    // Assess
    await expect(ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/lock' }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
    await expect(
      ssm.send(new DeleteParameterCommand({ Name: '/gantry/web/prod/lock' })),
    ).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
  });

  it('lists a path one level deep, or recursively, ten per page', async () => {
    // Prepare: seeded, not put: 14 writes over HTTP would exceed PutParameter's quota on a still clock.
    for (let i = 0; i < 12; i++)
      emulator.ssm.put(`/gantry/app${String(i).padStart(2, '0')}/prod/config`, `${i}`);
    emulator.ssm.put('/gantry/top', 'x');
    emulator.ssm.put('/other/config', 'y');

    // Act
    const shallow = await ssm.send(new GetParametersByPathCommand({ Path: '/gantry' }));
    const page1 = await ssm.send(new GetParametersByPathCommand({ Path: '/gantry', Recursive: true }));
    const page2 = await ssm.send(
      new GetParametersByPathCommand({ Path: '/gantry', Recursive: true, NextToken: page1.NextToken }),
    );

    // Assess
    expect(shallow.Parameters?.map((p) => p.Name)).toEqual(['/gantry/top']);
    expect(page1.Parameters).toHaveLength(10);
    expect(page1.NextToken).toBeDefined();
    expect(page2.Parameters).toHaveLength(3);
    expect(page2.NextToken).toBeUndefined();
    const all = [...(page1.Parameters ?? []), ...(page2.Parameters ?? [])].map((p) => p.Name);
    expect(new Set(all).size).toBe(13);
    expect(all).not.toContain('/other/config');
  });

  it('refuses MaxResults above 10 like AWS', async () => {
    // Act
    const result = ssm.send(new GetParametersByPathCommand({ Path: '/gantry', MaxResults: 11 }));

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('keeps the history with labels, and a label moves between versions', async () => {
    // Prepare
    await put('/gantry/web/prod/release', '{"v":1}');
    await put('/gantry/web/prod/release', '{"v":2}', { Overwrite: true });
    await put('/gantry/web/prod/release', '{"v":3}', { Overwrite: true });

    // Act
    const first = await ssm.send(
      new LabelParameterVersionCommand({
        Name: '/gantry/web/prod/release',
        Labels: ['live'],
        ParameterVersion: 2,
      }),
    );
    const second = await ssm.send(
      new LabelParameterVersionCommand({
        Name: '/gantry/web/prod/release',
        Labels: ['live', '1bad', 'awsx'],
      }),
    );
    const history = await ssm.send(new GetParameterHistoryCommand({ Name: '/gantry/web/prod/release' }));
    const byLabel = await ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/release:live' }));
    const byVersion = await ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/release:1' }));

    // Assess
    expect(first).toMatchObject({ InvalidLabels: [], ParameterVersion: 2 });
    expect(second).toMatchObject({ InvalidLabels: ['1bad', 'awsx'], ParameterVersion: 3 });
    expect(history.Parameters?.map((p) => [p.Version, p.Value, p.Labels])).toEqual([
      [1, '{"v":1}', []],
      [2, '{"v":2}', []],
      [3, '{"v":3}', ['live']],
    ]);
    expect(byLabel.Parameter).toMatchObject({ Version: 3, Selector: ':live' });
    expect(byVersion.Parameter).toMatchObject({ Version: 1, Value: '{"v":1}' });
  });

  it('answers ParameterVersionNotFound when labelling a missing version', async () => {
    // Prepare
    await put('/gantry/web/prod/release', '{}');

    // Act
    const result = ssm.send(
      new LabelParameterVersionCommand({
        Name: '/gantry/web/prod/release',
        Labels: ['x'],
        ParameterVersion: 7,
      }),
    );

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ParameterVersionNotFound' });
  });

  it('can be seeded and read without HTTP', async () => {
    // Act
    emulator.ssm.put('/gantry/web/prod/config', '{"cluster":"prod"}');
    const read = await ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/config' }));

    // Assess
    expect(read.Parameter?.Value).toBe('{"cluster":"prod"}');
    expect(emulator.ssm.names()).toEqual(['/gantry/web/prod/config']);
  });
});

describe('SSM quotas', () => {
  const name = '/gantry/web/prod/config';
  const read = () => ssm.send(new GetParameterCommand({ Name: name }));
  const byPath = () => ssm.send(new GetParametersByPathCommand({ Path: '/gantry', Recursive: true }));
  const write = (value: string) =>
    ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true }));
  const throttled = {
    name: 'ThrottlingException',
    message: 'Rate exceeded',
    $metadata: { httpStatusCode: 400 },
  };

  it('lets 40 reads a second through, shared by GetParameter and GetParametersByPath, then throttles', async () => {
    // Prepare
    emulator.ssm.put(name, '{}');
    for (let i = 0; i < SSM_THROUGHPUT.reads / 2; i++) await read();
    for (let i = 0; i < SSM_THROUGHPUT.reads / 2; i++) await byPath();

    // Act
    const getOverQuota = read();
    const pathOverQuota = byPath();

    // Assess
    await expect(getOverQuota).rejects.toMatchObject(throttled);
    await expect(pathOverQuota).rejects.toMatchObject(throttled);
    await expect(getOverQuota).rejects.toBeInstanceOf(SSMServiceException);
  });

  it('refills the read quota with simulated time, 40 a second', async () => {
    // Prepare
    emulator.ssm.put(name, '{}');
    for (let i = 0; i < SSM_THROUGHPUT.reads; i++) await read();

    // Act
    await emulator.clock.advance(500);
    const halfASecond = await Promise.allSettled(Array.from({ length: SSM_THROUGHPUT.reads }, () => read()));

    // Assess
    expect(halfASecond.filter((result) => result.status === 'fulfilled')).toHaveLength(
      SSM_THROUGHPUT.reads / 2,
    );
  });

  it('lets 3 PutParameter a second through; a throttled write changes nothing', async () => {
    // Prepare
    for (let i = 1; i <= SSM_THROUGHPUT.writes; i++) await write(`v${i}`);

    // Act
    const overQuota = write('lost');

    // Assess
    await expect(overQuota).rejects.toMatchObject(throttled);
    expect(emulator.ssm.get(name)).toBe(`v${SSM_THROUGHPUT.writes}`);
    await emulator.clock.advance(1000);
    expect((await write('next')).Version).toBe(SSM_THROUGHPUT.writes + 1);
  });

  it('counts writes apart from reads', async () => {
    // Prepare
    emulator.ssm.put(name, '{}');
    for (let i = 0; i < SSM_THROUGHPUT.reads; i++) await read();

    // Act
    const written = await write('still allowed');

    // Assess
    expect(written.Version).toBe(2);
  });

  it('lets a Lambda behind an event retry through throttling while it holds a realtime clock', async () => {
    // Prepare: the listener runs inside the clock's tick, as the sandbox's event-driven Lambdas do;
    // simulated time stands still until it returns, real time (and the SDK's backoff) does not.
    emulator.ssm.put(name, '{}');
    // Simulated time at a hundredth of real time: the quota refills at 0.4 reads per real second, so
    // neither an 80-call burst on a loaded CI machine nor the pause before the probe can refill a
    // token (at a quarter of real time, 10 a real second, CI once refilled one and the probe passed
    // first time); the SDK's throttling backoff (500 ms base, doubling) then outlasts 2.5 s.
    const retrying = new SSMClient({ ...emulator.clientConfig, maxAttempts: 10 });
    let attempts = 0;
    emulator.onEvent(async () => {
      // The second's quota spent at once, right before the probe, so a loaded machine cannot
      // refill it first (reads beyond it are throttled, which is the point).
      await Promise.allSettled(Array.from({ length: 2 * SSM_THROUGHPUT.reads }, () => read()));
      attempts = (await retrying.send(new GetParameterCommand({ Name: name }))).$metadata.attempts ?? 0;
    });
    const events = new EventBridgeClient(emulator.clientConfig);

    // Act
    await events.send(
      new PutEventsCommand({ Entries: [{ Source: 'gantry', DetailType: 'Probe', Detail: '{}' }] }),
    );
    emulator.clock.startRealtime({ speed: 0.01, tickMs: 10 });
    await vi.waitFor(() => expect(attempts).toBeGreaterThan(0), { timeout: 60_000, interval: 20 });

    // Assess
    expect(attempts).toBeGreaterThan(1);
  }, 90_000);

  it('applies no quota when turned off', async () => {
    // Prepare
    const unlimited = await startEmulator({ quotas: 'off' });
    onTestFinished(() => unlimited.close());
    const client = new SSMClient({ ...unlimited.clientConfig, maxAttempts: 1 });
    unlimited.ssm.put(name, '{}');

    // Act
    const reads = await Promise.allSettled(
      Array.from({ length: 2 * SSM_THROUGHPUT.reads }, () =>
        client.send(new GetParameterCommand({ Name: name })),
      ),
    );

    // Assess
    expect(reads.every((result) => result.status === 'fulfilled')).toBe(true);
  });

  describe('100 versions per parameter', () => {
    const release = '/gantry/web/prod/release';
    const seedVersions = (count: number) => {
      for (let version = 1; version <= count; version++) emulator.ssm.put(release, `v${version}`);
    };
    const putRelease = (value: string) =>
      ssm.send(new PutParameterCommand({ Name: release, Value: value, Overwrite: true }));

    it('drops the oldest version on the 101st write', async () => {
      // Prepare
      seedVersions(100);

      // Act
      const written = await putRelease('v101');

      // Assess
      expect(written.Version).toBe(101);
      await expect(ssm.send(new GetParameterCommand({ Name: `${release}:1` }))).rejects.toMatchObject({
        name: 'ParameterVersionNotFound',
      });
      expect((await ssm.send(new GetParameterCommand({ Name: `${release}:2` }))).Parameter?.Value).toBe('v2');
    });

    it('refuses the 101st write while the oldest version carries a label, and changes nothing', async () => {
      // Prepare
      seedVersions(100);
      await ssm.send(
        new LabelParameterVersionCommand({ Name: release, Labels: ['live'], ParameterVersion: 1 }),
      );

      // Act
      const refused = putRelease('v101');

      // Assess
      await expect(refused).rejects.toMatchObject({
        name: 'ParameterMaxVersionLimitExceeded',
        message: expect.stringContaining(
          "Version 1, the oldest version, can't be deleted because it has a label",
        ),
      });
      expect(emulator.ssm.get(release)).toBe('v100');
      expect((await ssm.send(new GetParameterCommand({ Name: `${release}:live` }))).Parameter?.Version).toBe(
        1,
      );
    });
  });
});

describe('ECR', () => {
  it('describes seeded images by tag or digest', async () => {
    // Prepare
    const ecr = new ECRClient({ ...emulator.clientConfig, maxAttempts: 1 });
    const pushed = emulator.ecr.putImage({ repository: 'web', tag: 'v1' });

    // Act
    const byTag = await ecr.send(
      new DescribeImagesCommand({ repositoryName: 'web', imageIds: [{ imageTag: 'v1' }] }),
    );
    const byDigest = await ecr.send(
      new DescribeImagesCommand({ repositoryName: 'web', imageIds: [{ imageDigest: pushed.digest }] }),
    );

    // Assess
    expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pushed.imageUri).toBe('000000000000.dkr.ecr.us-east-1.amazonaws.com/web:v1');
    expect(byTag.imageDetails?.[0]).toMatchObject({
      repositoryName: 'web',
      imageDigest: pushed.digest,
      imageTags: ['v1'],
      imagePushedAt: new Date(Date.UTC(2025, 0, 1)),
    });
    expect(byDigest.imageDetails?.[0]?.imageTags).toEqual(['v1']);
  });

  it('derives the same digest for the same repository and tag, and moves a re-pushed tag', () => {
    // Act
    const a = emulator.ecr.putImage({ repository: 'web', tag: 'v1' });
    const b = emulator.ecr.putImage({ repository: 'web', tag: 'latest', digest: `sha256:${'a'.repeat(64)}` });
    const moved = emulator.ecr.putImage({ repository: 'web', tag: 'v1', digest: b.digest });

    // Assess
    expect(a.digest).toBe(emulator.ecr.putImage({ repository: 'web', tag: 'v1' }).digest);
    expect(moved.digest).toBe(b.digest);
  });

  it('answers ImageNotFoundException and RepositoryNotFoundException', async () => {
    // Prepare
    const ecr = new ECRClient({ ...emulator.clientConfig, maxAttempts: 1 });
    emulator.ecr.putImage({ repository: 'web', tag: 'v1' });

    // Act
    const missingImage = ecr.send(
      new DescribeImagesCommand({ repositoryName: 'web', imageIds: [{ imageTag: 'v9' }] }),
    );
    const missingRepo = ecr.send(new DescribeImagesCommand({ repositoryName: 'api' }));

    // Assess
    await expect(missingImage).rejects.toMatchObject({ name: 'ImageNotFoundException' });
    await expect(missingRepo).rejects.toMatchObject({ name: 'RepositoryNotFoundException' });
  });
});

function handlers(overrides: Partial<SfnHandlers>): SfnHandlers {
  const unused = (): never => {
    throw new Error('not expected in this test');
  };
  return {
    startExecution: unused,
    describeExecution: unused,
    sendTaskSuccess: unused,
    sendTaskFailure: unused,
    sendTaskHeartbeat: unused,
    listExecutions: unused,
    stopExecution: unused,
    ...overrides,
  };
}

describe('Step Functions hooks', () => {
  const machine = 'arn:aws:states:us-east-1:000000000000:stateMachine:deploy';

  it('fails loudly when no runner installed hooks', async () => {
    // Prepare
    const sfn = new SFNClient({ ...emulator.clientConfig, maxAttempts: 1 });

    // Act
    const result = sfn.send(new StartExecutionCommand({ stateMachineArn: machine, input: '{}' }));

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'EmulatorNotConfigured' });
  });

  it('delegates every call to the hooks', async () => {
    // Prepare
    const sfn = new SFNClient({ ...emulator.clientConfig, maxAttempts: 1 });
    const seen: string[] = [];
    const arn = `${machine.replace(':stateMachine:', ':execution:')}:run-1`;
    emulator.sfn.setHandlers(
      handlers({
        startExecution: (input) => {
          seen.push(`start ${input.name} ${input.input}`);
          return { executionArn: arn, startDate: new Date(Date.UTC(2025, 0, 1)) };
        },
        describeExecution: (executionArn) => ({
          executionArn,
          stateMachineArn: machine,
          name: 'run-1',
          status: 'RUNNING',
          startDate: new Date(Date.UTC(2025, 0, 1)),
          input: '{}',
        }),
        sendTaskSuccess: (token, output) => {
          seen.push(`success ${token} ${output}`);
        },
        sendTaskFailure: (token, error, cause) => {
          seen.push(`failure ${token} ${error} ${cause}`);
        },
        sendTaskHeartbeat: (token) => {
          seen.push(`heartbeat ${token}`);
        },
      }),
    );

    // Act
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machine, name: 'run-1', input: '{}' }),
    );
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: 't1', output: '{"ok":true}' }));
    await sfn.send(new SendTaskFailureCommand({ taskToken: 't2', error: 'RolloutFailed', cause: 'crash' }));
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: 't3' }));

    // Assess
    expect(started).toMatchObject({ executionArn: arn, startDate: new Date(Date.UTC(2025, 0, 1)) });
    expect(described).toMatchObject({ status: 'RUNNING', name: 'run-1', stateMachineArn: machine });
    expect(seen).toEqual([
      'start run-1 {}',
      'success t1 {"ok":true}',
      'failure t2 RolloutFailed crash',
      'heartbeat t3',
    ]);
  });

  it.each(['TaskDoesNotExist', 'TaskTimedOut', 'ExecutionAlreadyExists', 'ExecutionDoesNotExist'])(
    'passes a hook error named %s through to the SDK',
    async (name) => {
      // Prepare
      const sfn = new SFNClient({ ...emulator.clientConfig, maxAttempts: 1 });
      const fail = (): never => {
        throw Object.assign(new Error(`hook says ${name}`), { name });
      };
      emulator.sfn.setHandlers(
        handlers({
          startExecution: fail,
          describeExecution: fail,
          sendTaskSuccess: fail,
          sendTaskFailure: fail,
        }),
      );

      // Act
      const result = name.startsWith('Task')
        ? sfn.send(new SendTaskSuccessCommand({ taskToken: 't', output: '{}' }))
        : name === 'ExecutionAlreadyExists'
          ? sfn.send(new StartExecutionCommand({ stateMachineArn: machine, name: 'dup' }))
          : sfn.send(new DescribeExecutionCommand({ executionArn: `${machine}:nope` }));

      // Assess
      await expect(result).rejects.toMatchObject({ name, message: `hook says ${name}` });
    },
  );

  it('reports a crashing hook as EmulatorHookFailed rather than an AWS error', async () => {
    // Prepare
    const sfn = new SFNClient({ ...emulator.clientConfig, maxAttempts: 1 });
    emulator.sfn.setHandlers(
      handlers({
        sendTaskHeartbeat: () => {
          throw new TypeError('runner bug');
        },
      }),
    );

    // Act
    const result = sfn.send(new SendTaskHeartbeatCommand({ taskToken: 't' }));

    // Assess
    await expect(result).rejects.toMatchObject({
      name: 'EmulatorHookFailed',
      message: expect.stringContaining('runner bug'),
    });
  });
});

describe('EventBridge', () => {
  it('delivers PutEvents entries to listeners as EventBridge events when the clock runs', async () => {
    // Prepare
    const events = new EventBridgeClient({ ...emulator.clientConfig, maxAttempts: 1 });
    const received: AwsEvent[] = [];
    emulator.onEvent((event) => {
      received.push(event);
    });

    // Act
    const result = await events.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'gantry',
            DetailType: 'Release Recorded',
            Detail: '{"app":"web","env":"prod"}',
            Resources: ['arn:aws:ssm:us-east-1:000000000000:parameter/gantry/web/prod/release'],
            EventBusName: 'default',
          },
          { Source: 'gantry', DetailType: 'Broken', Detail: 'not json' },
        ],
      }),
    );
    const beforeClock = received.length;
    await emulator.clock.advance(0);

    // Assess
    expect(result.FailedEntryCount).toBe(1);
    expect(result.Entries?.[1]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    expect(beforeClock).toBe(0);
    expect(received).toEqual([
      {
        version: '0',
        id: result.Entries?.[0]?.EventId,
        'detail-type': 'Release Recorded',
        source: 'gantry',
        account: '000000000000',
        time: '2025-01-01T00:00:00Z',
        region: 'us-east-1',
        resources: ['arn:aws:ssm:us-east-1:000000000000:parameter/gantry/web/prod/release'],
        detail: { app: 'web', env: 'prod' },
      },
    ]);
  });

  it('refuses a custom event bus loudly', async () => {
    // Prepare
    const events = new EventBridgeClient({ ...emulator.clientConfig, maxAttempts: 1 });

    // Act
    const result = events.send(
      new PutEventsCommand({
        Entries: [{ Source: 'gantry', DetailType: 'x', Detail: '{}', EventBusName: 'custom' }],
      }),
    );

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'UnsupportedParameter' });
  });

  it('surfaces a failing async listener from the clock', async () => {
    // Prepare
    emulator.onEvent(async () => {
      throw new Error('listener broke');
    });
    const events = new EventBridgeClient({ ...emulator.clientConfig, maxAttempts: 1 });
    await events.send(
      new PutEventsCommand({ Entries: [{ Source: 'gantry', DetailType: 'x', Detail: '{}' }] }),
    );

    // Act
    const advancing = emulator.clock.advance(0);

    // Assess
    await expect(advancing).rejects.toThrow('listener broke');
  });
});

describe('ECS operations the emulator refuses', () => {
  it('does not create services over the API: seeding is emulator.ecs.createService', async () => {
    // Prepare
    const ecs = new ECSClient({ ...emulator.clientConfig, maxAttempts: 1 });

    // Act
    const result = ecs.send(new CreateServiceCommand({ serviceName: 'web', taskDefinition: 'web:1' }));

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'UnsupportedOperation' });
  });
});

describe('DynamoDB', () => {
  const TableName = 'coordination';
  let dynamodb: DynamoDBClient;
  const key = { pk: { S: 'app#web#prod' }, sk: { S: 'lock' } };

  beforeEach(() => {
    emulator.dynamodb.createTable({
      name: TableName,
      partitionKey: 'pk',
      sortKey: 'sk',
      ttlAttribute: 'expiresAt',
    });
    dynamodb = new DynamoDBClient({ ...emulator.clientConfig, maxAttempts: 1 });
  });

  it('evaluates NOT, parentheses, BETWEEN and comparisons on numbers numerically', async () => {
    // Prepare
    emulator.dynamodb.putItem(TableName, { ...key, requestedAt: { N: '9' } });
    const deleteIf = (ConditionExpression: string, values: Record<string, { N: string }>) =>
      dynamodb.send(
        new DeleteItemCommand({
          TableName,
          Key: key,
          ConditionExpression,
          ExpressionAttributeValues: values,
        }),
      );

    // Act / Assess: 9 < 10 numerically (as text "9" > "10").
    await expect(deleteIf('requestedAt > :ten', { ':ten': { N: '10' } })).rejects.toMatchObject({
      name: 'ConditionalCheckFailedException',
    });
    await expect(
      deleteIf('NOT (requestedAt BETWEEN :low AND :high) OR requestedAt < :ten', {
        ':low': { N: '1' },
        ':high': { N: '5' },
        ':ten': { N: '10' },
      }),
    ).resolves.toBeDefined();
    expect(emulator.dynamodb.getItem(TableName, key)).toBeUndefined();
  });

  it('answers UnsupportedOperation for a call Gantry does not make', async () => {
    const result = dynamodb.send(
      new UpdateItemCommand({
        TableName,
        Key: key,
        UpdateExpression: 'SET holder = :h',
        ExpressionAttributeValues: { ':h': { S: 'x' } },
      }),
    );

    await expect(result).rejects.toMatchObject({ name: 'UnsupportedOperation' });
  });

  it('refuses IN and nested paths loudly instead of guessing', async () => {
    const deleteIf = (ConditionExpression: string) =>
      dynamodb.send(
        new DeleteItemCommand({
          TableName,
          Key: key,
          ConditionExpression,
          ExpressionAttributeValues: { ':v': { S: 'x' } },
        }),
      );

    await expect(deleteIf('holder IN (:v)')).rejects.toMatchObject({ name: 'UnsupportedParameter' });
    await expect(deleteIf('holder.name = :v')).rejects.toMatchObject({ name: 'UnsupportedParameter' });
  });

  it('keeps task tokens out of the call log', async () => {
    await dynamodb.send(
      new PutItemCommand({ TableName, Item: { ...key, taskToken: { S: 'secret-token' } } }),
    );

    expect(JSON.stringify(emulator.calls)).not.toContain('secret-token');
  });
});
