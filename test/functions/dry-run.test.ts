import { DescribeImagesCommand, ECRClient, ImageNotFoundException } from '@aws-sdk/client-ecr';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type DescribeTaskDefinitionCommandOutput,
  ECSClient,
} from '@aws-sdk/client-ecs';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appEnvPartition, keyOf, lockSortKey } from '../../functions/src/coordination/table.ts';
import { type DryRunDependencies, dryRun } from '../../functions/src/dry-run.ts';
import type { ReleaseRecord } from '../../functions/src/release.ts';
import {
  describeServicesResponse,
  describeTaskDefinitionResponse,
  ecsTargetClients,
  serviceOf,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/* `gantry plan`: what a deploy would change and a verify list, with reads only. */

const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const configName = '/gantry/web/prod/config';
const image = `${story.registry}/web@${story.digest}`;
const databaseUrl = '/web/prod/database-url';
const managed = [{ key: 'gantry:managed', value: 'true' }];

const ecrMock = mockClient(ECRClient);
const ecsMock = mockClient(ECSClient);
let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;
let deps: DryRunDependencies;

/** The service's current revision, with the roles and secrets given (the fixture's by default). */
function currentRevision(
  overrides: { taskRoleArn?: string; executionRoleArn?: string; secrets?: string[] } = {},
): DescribeTaskDefinitionCommandOutput {
  const response = describeTaskDefinitionResponse();
  const definition = response.taskDefinition ?? {};
  const [app, ...others] = definition.containerDefinitions ?? [];
  return {
    ...response,
    taskDefinition: {
      ...definition,
      ...(overrides.taskRoleArn !== undefined && { taskRoleArn: overrides.taskRoleArn }),
      ...(overrides.executionRoleArn !== undefined && { executionRoleArn: overrides.executionRoleArn }),
      containerDefinitions: [
        {
          ...app,
          ...(overrides.secrets !== undefined && {
            secrets: overrides.secrets.map((valueFrom, n) => ({ name: `SECRET_${n}`, valueFrom })),
          }),
        },
        ...others,
      ],
    },
  };
}

function imageInEcr() {
  ecrMock.on(DescribeImagesCommand).resolves({
    imageDetails: [
      { registryId: '123456789012', repositoryName: 'web', imageDigest: story.digest, imageTags: ['v1.4.2'] },
    ],
  });
}

const plan = (request: Record<string, unknown> = { app: 'web', env: 'prod', image: 'web:v1.4.2' }) =>
  dryRun(deps, request);
const checkNamed = async (name: string, request?: Record<string, unknown>) =>
  (await plan(request)).checks.filter((check) => check.check === name);

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
  ssm.put(configName, webConfig);
  ssm.put(databaseUrl, 'postgres://secret');
  ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf({ tags: managed })));
  ecsMock.on(DescribeTaskDefinitionCommand).resolves(currentRevision());
  imageInEcr();
  deps = {
    ssm: ssm.client,
    ecr: new ECRClient({ region: 'eu-west-1' }),
    targets: ecsTargetClients(new ECSClient({ region: 'eu-west-1' })),
    table: table.table,
    parameterPrefix: '/gantry',
    stateMachineArn,
    passableRoles: { task: 'web-*-task', execution: 'web-prod-execution' },
    now: () => new Date('2025-06-03T10:40:00.000Z'),
  };
});

afterEach(() => {
  ssm.mock.reset();
  table.mock.reset();
  ecrMock.reset();
  ecsMock.reset();
});

describe('dryRun', () => {
  it('plans a deploy and passes every check of the verify list, in order', async () => {
    // Act
    const result = await plan();

    // Assess
    expect(result.checks).toEqual([
      { check: 'config', status: 'ok', detail: '/gantry/web/prod/config is valid' },
      { check: 'target may be deployed', status: 'ok', detail: 'ecs target is marked for Gantry' },
      { check: 'image in ECR', status: 'ok', detail: `v1.4.2 is ${image}` },
      { check: 'target preview', status: 'ok', detail: 'computed with reads only' },
      {
        check: 'deployment controller',
        status: 'ok',
        detail: 'rolling update (ECS): UpdateService takes a task definition',
      },
      {
        check: 'task role may be passed',
        status: 'ok',
        detail: 'web-prod-task matches web-*-task (existence not checked)',
      },
      {
        check: 'execution role may be passed',
        status: 'ok',
        detail: 'web-prod-execution matches web-prod-execution (existence not checked)',
      },
      { check: 'secret exists', status: 'ok', detail: databaseUrl },
      { check: 'lock', status: 'ok', detail: 'free' },
    ]);
    expect(result.plan?.desired).toEqual({ image, digest: story.digest, tag: 'v1.4.2' });
    expect(result.preview?.change).toMatch(/^RegisterTaskDefinition web /);
  });

  it('plans under an execution of the state machine that never starts, requested now', async () => {
    // Act
    const result = await plan();

    // Assess
    expect(result.plan?.executionArn).toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:gantry-plan',
    );
    expect(result.plan?.requestedAt).toBe('2025-06-03T10:40:00.000Z');
  });

  it('refuses a request that is not a deploy request, checking nothing', async () => {
    // Act
    const planning = plan({ app: 'web' });

    // Assess
    await expect(planning).rejects.toMatchObject({ name: 'InputInvalid' });
    expect(ssm.mock.commandCalls(GetParameterCommand)).toHaveLength(0);
  });

  it('stops at a missing config: nothing else can be checked without it', async () => {
    // Act
    const result = await plan({ app: 'api', env: 'prod', image: 'api:v2.0.0' });

    // Assess
    expect(result).toEqual({
      checks: [
        {
          check: 'config',
          status: 'fail',
          detail: expect.stringMatching(/^ConfigNotFound: .*\/gantry\/api\/prod\/config/),
        },
      ],
    });
  });

  it('resolves no image for a service not marked for Gantry, and still reads the lock', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf({ tags: [] })));

    // Act
    const result = await plan();

    // Assess
    expect(result.checks.map(({ check, status }) => `${check}: ${status}`)).toEqual([
      'config: ok',
      'target may be deployed: fail',
      'lock: ok',
    ]);
    expect(result.checks[1]?.detail).toMatch(/^ServiceNotManaged: /);
    expect(result).not.toHaveProperty('plan');
    expect(ecrMock.commandCalls(DescribeImagesCommand)).toHaveLength(0);
  });

  it('previews nothing for an image missing from ECR, saying which check failed', async () => {
    // Prepare
    ecrMock
      .on(DescribeImagesCommand)
      .rejects(new ImageNotFoundException({ message: 'not found', $metadata: {} }));

    // Act
    const result = await plan();

    // Assess
    expect(result.checks.map(({ check, status }) => `${check}: ${status}`)).toEqual([
      'config: ok',
      'target may be deployed: ok',
      'image in ECR: fail',
      'lock: ok',
    ]);
    expect(result).not.toHaveProperty('plan');
    expect(result).not.toHaveProperty('preview');
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);
  });

  it('names the release a rollback goes back to, by its digest when it has no tag', async () => {
    // Prepare
    const previous = {
      image: `${story.registry}/web@${story.previousDigest}`,
      digest: story.previousDigest,
      revision: story.previousTaskDefinitionArn,
    };
    const liveRelease: ReleaseRecord = {
      kind: 'release',
      image,
      digest: story.digest,
      tag: 'v1.4.2',
      revision: story.taskDefinitionArn,
      at: '2025-06-03T10:19:30.000Z',
      executionArn: story.executionArn,
      previous,
    };
    ssm.put('/gantry/web/prod/release', liveRelease);

    // Act
    const checks = await checkNamed('release to roll back to', {
      app: 'web',
      env: 'prod',
      rollback: true,
      reason: 'bad release',
    });

    // Assess
    expect(checks).toEqual([
      {
        check: 'release to roll back to',
        status: 'ok',
        detail: `${story.previousDigest} is ${previous.image}`,
      },
    ]);
  });

  it('fails a role the stack may not pass, naming its pattern', async () => {
    // Prepare
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .resolves(currentRevision({ taskRoleArn: 'arn:aws:iam::123456789012:role/admin' }));

    // Act
    const checks = await checkNamed('task role may be passed');

    // Assess
    expect(checks).toEqual([
      {
        check: 'task role may be passed',
        status: 'fail',
        detail: 'admin does not match web-*-task (existence not checked)',
      },
    ]);
  });

  // Role names may hold `+=,.@_-` besides letters and digits (IAM API Reference, CreateRole `RoleName`).
  it.each([
    ['a role under a path, by its name', 'web-*-task', 'service/web-prod-task', 'ok'],
    ['any run of characters for *, even none', 'web-*-task', 'web--task', 'ok'],
    ['one character for ?', 'web-prod?-task', 'web-prod1-task', 'ok'],
    ['no character for ? is no match', 'web-prod?-task', 'web-prod-task', 'fail'],
    ['a dot as a dot, not as any character', 'web-prod.task', 'web-prodXtask', 'fail'],
    ['the dots and pluses IAM allows in a name, as themselves', 'web.prod+task', 'web.prod+task', 'ok'],
    ['the whole name, not a part of it', 'web-prod-task', 'my-web-prod-task-2', 'fail'],
  ])('matches IAM wildcards: %s', async (_, pattern, role, status) => {
    // Prepare
    deps.passableRoles.task = pattern;
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .resolves(currentRevision({ taskRoleArn: `arn:aws:iam::123456789012:role/${role}` }));

    // Act
    const checks = await checkNamed('task role may be passed');

    // Assess
    expect(checks.map((check) => check.status)).toEqual([status]);
  });

  it('checks each Parameter Store secret once, by ARN or by name, and leaves the others unchecked', async () => {
    // Prepare
    ssm.put('/web/prod/api-key', 'k');
    ecsMock.on(DescribeTaskDefinitionCommand).resolves(
      currentRevision({
        secrets: [
          `arn:aws:ssm:eu-west-1:123456789012:parameter${databaseUrl}`,
          '/web/prod/api-key',
          `arn:aws:ssm:eu-west-1:123456789012:parameter${databaseUrl}`,
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:web/prod/token-AbCdEf',
          'arn:aws:ssm:eu-west-1:123456789012:parameter/web/prod/gone',
        ],
      }),
    );

    // Act
    const checks = await checkNamed('secret exists');

    // Assess
    expect(checks).toEqual([
      { check: 'secret exists', status: 'ok', detail: databaseUrl },
      { check: 'secret exists', status: 'ok', detail: '/web/prod/api-key' },
      {
        check: 'secret exists',
        status: 'unknown',
        detail:
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:web/prod/token-AbCdEf: not a Parameter Store reference, not checked',
      },
      { check: 'secret exists', status: 'fail', detail: '/web/prod/gone: no such parameter' },
    ]);
  });

  it('reads a secret without decrypting it', async () => {
    // Act
    await plan();

    // Assess
    expect(
      ssm.mock.commandCalls(GetParameterCommand).find((call) => call.args[0].input.Name === databaseUrl)
        ?.args[0].input.WithDecryption,
    ).not.toBe(true);
  });

  it('says a secret it may not read is unknown, and passes any other error on', async () => {
    // Prepare
    ssm.mock
      .on(GetParameterCommand, { Name: databaseUrl })
      .rejectsOnce(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }))
      .rejectsOnce(Object.assign(new Error('the KMS key is disabled'), { name: 'InvalidKeyId' }));

    // Act
    const checks = await checkNamed('secret exists');
    const failing = plan();

    // Assess
    expect(checks).toEqual([
      { check: 'secret exists', status: 'unknown', detail: `${databaseUrl}: you may not read it` },
    ]);
    await expect(failing).rejects.toMatchObject({ name: 'InvalidKeyId' });
  });

  it('warns that a deploy would wait for the execution holding the lock', async () => {
    // Prepare
    table.put({
      ...keyOf(appEnvPartition('web', 'prod'), lockSortKey),
      holder: { S: story.executionArn },
      image: { S: image },
      requestedAtText: { S: '2025-06-03T11:00:00Z' },
      acquiredAt: { S: '2025-06-03T11:00:01.000Z' },
    } as never);

    // Act
    const checks = await checkNamed('lock');

    // Assess
    expect(checks).toEqual([
      {
        check: 'lock',
        status: 'warn',
        detail: `held by ${story.executionArn} (${image}): a deploy would wait`,
      },
    ]);
  });

  it('passes on an error that is not a failed check', async () => {
    // Prepare
    ecsMock.on(DescribeServicesCommand).rejects(new TypeError('a bug'));

    // Act
    const planning = plan();

    // Assess
    await expect(planning).rejects.toThrow('a bug');
  });
});
