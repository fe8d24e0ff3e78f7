import { describe, expect, it } from 'vitest';
import {
  AccessDenied,
  type ArnScope,
  type AuthorizationRequest,
  authorizationsFor,
  authorizationTable,
  createAuthorizer,
  isAllowed,
  type PolicyStatement,
  resolveIntrinsics,
  resourceTagKey,
  UnknownAction,
} from '../../sandbox/authorization.ts';

const scope: ArnScope = {
  partition: 'aws',
  region: 'eu-west-1',
  account: '123456789012',
  stateMachineOfToken: () => 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-prod-deploy',
};
const ecs = (resource: string) => `arn:aws:ecs:eu-west-1:123456789012:${resource}`;
const prodCluster = ecs('cluster/prod');

/** One call per row, shaped as Gantry makes it. */
const sampleInputs: Record<string, Record<string, unknown>> = {
  'ssm:GetParameter': { Name: '/gantry/web/prod/release' },
  'sqs:GetQueueUrl': { QueueName: 'gantry-swarm-shop-prod' },
  'sqs:SendMessage': {
    QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/gantry-swarm-shop-prod',
    MessageBody: '{}',
  },
  'ssm:GetParametersByPath': { Path: '/gantry', Recursive: true },
  'ssm:PutParameter': { Name: '/gantry/web/prod/lock', Value: '{}', Overwrite: false },
  'ssm:DeleteParameter': { Name: '/gantry/web/prod/lock' },
  'ssm:LabelParameterVersion': { Name: '/gantry/web/prod/release', ParameterVersion: 3, Labels: ['live'] },
  'ecs:DescribeServices': { cluster: 'prod', services: ['web', 'api'], include: ['TAGS'] },
  'ecs:UpdateService': { cluster: 'prod', service: 'web', taskDefinition: 'web-prod:4' },
  'ecs:ListTasks': { cluster: 'prod', startedBy: 'ecs-svc/123', desiredStatus: 'STOPPED' },
  'ecs:DescribeTasks': { cluster: 'prod', tasks: ['0123abcd'] },
  'ecs:DescribeTaskDefinition': { taskDefinition: 'web-prod:3', include: ['TAGS'] },
  'ecs:RegisterTaskDefinition': {
    family: 'web-prod',
    executionRoleArn: 'arn:aws:iam::123456789012:role/web-execution',
    taskRoleArn: 'arn:aws:iam::123456789012:role/web-task',
    tags: [{ key: 'team', value: 'web' }],
  },
  'ecs:TagResource': { resourceArn: ecs('task-definition/web-prod:4'), tags: [] },
  'ecs:DescribeServiceDeployments': {
    serviceDeploymentArns: [ecs('service-deployment/prod/web/r9i43YFjvgF_xlg7m2eJ1r')],
  },
  'ecs:ContinueServiceDeployment': {
    serviceDeploymentArn: ecs('service-deployment/prod/web/r9i43YFjvgF_xlg7m2eJ1r'),
    hookId: 'ecs-pause-e7tK9G_WRJqNF_EOMjztDXfKenlJuEUVjsNStf4WLKw',
    action: 'CONTINUE',
  },
  'ecs:StopServiceDeployment': {
    serviceDeploymentArn: ecs('service-deployment/prod/web/r9i43YFjvgF_xlg7m2eJ1r'),
    stopType: 'ROLLBACK',
  },
  'cloudwatch:DescribeAlarms': { AlarmNames: ['web-prod-5xx'], StateValue: 'ALARM' },
  'ecr:DescribeImages': { repositoryName: 'web', imageIds: [{ imageTag: 'v1' }] },
  'states:StartExecution': { stateMachineArn: scope.stateMachineOfToken(''), name: 'x', input: '{}' },
  'states:DescribeExecution': {
    executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:gantry-prod-deploy:x',
  },
  'states:SendTaskSuccess': { taskToken: 'token', output: '{}' },
  'states:SendTaskFailure': { taskToken: 'token', error: 'RolloutFailed' },
  'states:SendTaskHeartbeat': { taskToken: 'token' },
  'events:PutEvents': { Entries: [{ Source: 'gantry', DetailType: 'Release Succeeded', Detail: '{}' }] },
  'ssm:GetParameters': { Names: ['/gantry/web/prod/config', '/gantry/web/prod/release'] },
  'dynamodb:GetItem': { TableName: 'gantry-coordination', Key: {} },
  'dynamodb:PutItem': { TableName: 'gantry-coordination', Item: {} },
  'dynamodb:UpdateItem': { TableName: 'gantry-coordination', Key: {} },
  'dynamodb:DeleteItem': { TableName: 'gantry-coordination', Key: {} },
  'dynamodb:Query': { TableName: 'gantry-coordination', KeyConditionExpression: 'pk = :pk' },
};

const allow = (Action: string[], Resource: string | string[], Condition?: PolicyStatement['Condition']) =>
  ({ Effect: 'Allow', Action, Resource, ...(Condition && { Condition }) }) as PolicyStatement;

describe('the authorization table', () => {
  it.each(Object.entries(authorizationTable))('%s cites the Service Authorization Reference', (_, row) => {
    expect(row.source).toMatch(/^Service Authorization Reference, https:\/\/docs\.aws\.amazon\.com\//);
  });

  it.each(Object.keys(authorizationTable).filter((action) => action !== 'iam:PassRole'))(
    '%s derives only condition keys its row lists, on resources of its type',
    (action) => {
      // Prepare
      const input = sampleInputs[action] ?? {};

      // Act
      const requests = authorizationsFor(action, input, scope);

      // Assess
      expect(requests.length).toBeGreaterThan(0);
      for (const request of requests) {
        const row = authorizationTable[request.action];
        expect(row, request.action).toBeDefined();
        for (const key of Object.keys(request.context)) expect(row?.conditionKeys).toContain(key);
        if (row?.resourceType === 'queue') {
          // An SQS queue's ARN names the queue without its type: arn:aws:sqs:<region>:<account>:<name>.
          expect(request.resource).toMatch(/^arn:aws:sqs:[a-z0-9-]+:\d{12}:[\w-]{1,80}$/);
        } else if (row?.resourceType !== '*' && row?.exception === undefined) {
          expect(request.resource).toMatch(new RegExp(`:${row?.resourceType}[/:]`));
        }
      }
    },
  );

  it('authorizes ListTasks by cluster and startedBy against "*" scoped by ecs:cluster, not a container instance', () => {
    // Act
    const [request] = authorizationsFor('ecs:ListTasks', sampleInputs['ecs:ListTasks'] ?? {}, scope);

    // Assess
    expect(request).toEqual({
      action: 'ecs:ListTasks',
      resource: '*',
      context: { 'ecs:cluster': prodCluster },
    });
  });

  it('authorizes ListTasks for one container instance against that container instance', () => {
    // Act
    const [request] = authorizationsFor(
      'ecs:ListTasks',
      { cluster: 'prod', containerInstance: 'abc' },
      scope,
    );

    // Assess
    expect(request?.resource).toBe(ecs('container-instance/prod/abc'));
  });

  it('authorizes DescribeTaskDefinition and RegisterTaskDefinition against "*"', () => {
    // Act
    const describe_ = authorizationsFor(
      'ecs:DescribeTaskDefinition',
      { taskDefinition: 'web-prod:3' },
      scope,
    );
    const register = authorizationsFor('ecs:RegisterTaskDefinition', { family: 'web-prod' }, scope);

    // Assess
    expect(describe_).toEqual([{ action: 'ecs:DescribeTaskDefinition', resource: '*', context: {} }]);
    expect(register).toEqual([{ action: 'ecs:RegisterTaskDefinition', resource: '*', context: {} }]);
  });

  it('adds TagResource on create and PassRole to ECS tasks for each role a new revision names', () => {
    // Act
    const requests = authorizationsFor(
      'ecs:RegisterTaskDefinition',
      sampleInputs['ecs:RegisterTaskDefinition'] ?? {},
      scope,
    );

    // Assess
    expect(requests.slice(1)).toEqual([
      {
        action: 'ecs:TagResource',
        resource: ecs('task-definition/web-prod:*'),
        context: { 'ecs:CreateAction': 'RegisterTaskDefinition' },
      },
      {
        action: 'iam:PassRole',
        resource: 'arn:aws:iam::123456789012:role/web-task',
        context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
      },
      {
        action: 'iam:PassRole',
        resource: 'arn:aws:iam::123456789012:role/web-execution',
        context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
      },
    ]);
  });

  it('authorizes task callbacks against the state machine that issued the token', () => {
    // Act
    const [request] = authorizationsFor(
      'states:SendTaskSuccess',
      { taskToken: 'token', output: '{}' },
      scope,
    );

    // Assess
    expect(request?.resource).toBe(scope.stateMachineOfToken('token'));
  });

  it('authorizes DescribeServices once per service, with the cluster as ecs:cluster', () => {
    // Act
    const requests = authorizationsFor(
      'ecs:DescribeServices',
      sampleInputs['ecs:DescribeServices'] ?? {},
      scope,
    );

    // Assess
    expect(requests.map((r) => [r.resource, r.context['ecs:cluster']])).toEqual([
      [ecs('service/prod/web'), prodCluster],
      [ecs('service/prod/api'), prodCluster],
    ]);
  });

  it('authorizes each PutEvents entry on its bus with its source and detail-type', () => {
    // Act
    const requests = authorizationsFor(
      'events:PutEvents',
      {
        Entries: [
          { Source: 'gantry', DetailType: 'Rollback Requested', Detail: '{}', EventBusName: 'gantry-prod' },
        ],
      },
      scope,
    );

    // Assess
    expect(requests).toEqual([
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:eu-west-1:123456789012:event-bus/gantry-prod',
        context: { 'events:source': 'gantry', 'events:detail-type': 'Rollback Requested' },
      },
    ]);
  });

  it('authorizes a parameter read with a label selector against the parameter itself', () => {
    // Act
    const [request] = authorizationsFor('ssm:GetParameter', { Name: '/gantry/web/prod/release:live' }, scope);

    // Assess
    expect(request?.resource).toBe('arn:aws:ssm:eu-west-1:123456789012:parameter/gantry/web/prod/release');
  });

  it('refuses to guess an action it has no row for', () => {
    // Act, Assess
    expect(() => authorizationsFor('ecs:DeleteService', {}, scope)).toThrow(UnknownAction);
  });
});

describe('policy evaluation', () => {
  const listTasks = authorizationsFor('ecs:ListTasks', sampleInputs['ecs:ListTasks'] ?? {}, scope)[0];
  if (listTasks === undefined) throw new Error('no ListTasks request');

  it('denies ListTasks by startedBy to a grant on container instances', () => {
    // Act, Assess
    expect(isAllowed([allow(['ecs:ListTasks'], ecs('container-instance/*/*'))], listTasks)).toBe(false);
  });

  it('allows ListTasks on "*" in the cluster the condition names, and no other', () => {
    // Prepare
    const policy = [allow(['ecs:ListTasks'], '*', { StringEquals: { 'ecs:cluster': prodCluster } })];
    const staging = { ...listTasks, context: { 'ecs:cluster': ecs('cluster/staging') } };

    // Act, Assess
    expect(isAllowed(policy, listTasks)).toBe(true);
    expect(isAllowed(policy, staging)).toBe(false);
  });

  it('requires a resource tag the condition names, and its value', () => {
    // Prepare
    const policy = [
      allow(['ecs:UpdateService'], ecs('service/*/*'), {
        StringEquals: { 'aws:ResourceTag/gantry:managed': 'true' },
      }),
    ];
    const request = { action: 'ecs:UpdateService', resource: ecs('service/prod/web'), context: {} };

    // Act, Assess
    expect(isAllowed(policy, request)).toBe(false);
    expect(isAllowed(policy, { ...request, context: { 'aws:ResourceTag/gantry:managed': 'false' } })).toBe(
      false,
    );
    expect(isAllowed(policy, { ...request, context: { 'aws:ResourceTag/gantry:managed': 'true' } })).toBe(
      true,
    );
  });

  it('matches StringLike wildcards and lets an explicit Deny win', () => {
    // Prepare
    const request = { action: 'iam:PassRole', resource: 'arn:aws:iam::1:role/web-task', context: {} };
    const allowing = allow(['iam:PassRole'], 'arn:aws:iam::1:role/*-task');

    // Act, Assess
    expect(isAllowed([allowing], request)).toBe(true);
    expect(isAllowed([allowing, { ...allowing, Effect: 'Deny' }], request)).toBe(false);
  });

  it('refuses to evaluate a condition operator it does not implement', () => {
    // Prepare
    const policy = [allow(['ecs:ListTasks'], '*', { NumericLessThan: { 'ecs:cluster': '1' } })];

    // Act, Assess
    expect(() => isAllowed(policy, listTasks)).toThrow(/NumericLessThan/);
  });

  it('reads the partition a DynamoDB call touches as dynamodb:LeadingKeys, and holds a role to its partitions', () => {
    // Prepare
    const table = 'arn:aws:dynamodb:eu-west-1:123456789012:table/coordination';
    const policy = [
      allow(['dynamodb:GetItem', 'dynamodb:Query'], table, {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['app#*'] },
      }),
    ];
    const get = (pk: string) =>
      authorizationsFor(
        'dynamodb:GetItem',
        { TableName: 'coordination', Key: { pk: { S: pk }, sk: { S: 'lock' } } },
        scope,
      );
    const query = authorizationsFor(
      'dynamodb:Query',
      {
        TableName: 'coordination',
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :release)',
        ExpressionAttributeValues: { ':pk': { S: 'wait#d-1' }, ':release': { S: 'release#' } },
      },
      scope,
    );

    // Act, Assess
    expect(get('app#web#prod')[0]?.context).toEqual({ 'dynamodb:LeadingKeys': 'app#web#prod' });
    expect(isAllowed(policy, get('app#web#prod')[0] as AuthorizationRequest)).toBe(true);
    expect(isAllowed(policy, get('wait#d-1')[0] as AuthorizationRequest)).toBe(false);
    expect(isAllowed(policy, query[0] as AuthorizationRequest)).toBe(false);
  });

  it('holds a ForAllValues condition when the request lacks the key, as IAM does', () => {
    // Prepare
    const policy = [
      allow(['ecs:ListTasks'], '*', { 'ForAllValues:StringLike': { 'aws:TagKeys': ['team'] } }),
    ];

    // Act, Assess
    expect(isAllowed(policy, { ...listTasks, context: {} })).toBe(true);
    expect(isAllowed(policy, { ...listTasks, context: { 'aws:TagKeys': 'other' } })).toBe(false);
  });

  it('resolves Ref, Fn::Sub and Fn::GetAtt against the stack, and refuses what it does not know', () => {
    // Prepare
    const stack = {
      partition: 'aws',
      region: 'eu-west-1',
      account: '1',
      stackName: 's',
      refs: { Machine: 'm', 'Table.Arn': 'arn:aws:dynamodb:eu-west-1:1:table/t' },
    };

    // Act, Assess
    expect(
      resolveIntrinsics(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax.
        [{ Ref: 'Machine' }, { 'Fn::Sub': 'arn:${AWS::Partition}:x:${AWS::StackName}' }],
        stack,
      ),
    ).toEqual(['m', 'arn:aws:x:s']);
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['Table', 'Arn'] }, stack)).toBe(
      'arn:aws:dynamodb:eu-west-1:1:table/t',
    );
    expect(() => resolveIntrinsics({ 'Fn::GetAtt': ['A', 'Arn'] }, stack)).toThrow(/Fn::GetAtt A.Arn/);
    expect(() => resolveIntrinsics({ 'Fn::ImportValue': 'x' }, stack)).toThrow(/Fn::ImportValue/);
  });
});

describe('the authorizer', () => {
  const authorize = createAuthorizer({
    roles: { reader: [allow(['ssm:GetParameter'], 'arn:aws:ssm:eu-west-1:123456789012:parameter/gantry/*')] },
    scope,
    principalOf: (caller) => `arn:aws:sts::123456789012:assumed-role/${caller}/${caller}`,
  });
  const untagged = async () => undefined;

  it('answers AccessDeniedException naming the action and the resource', async () => {
    // Act, Assess
    await expect(authorize('reader', 'ssm:GetParameter', { Name: '/other/x' }, untagged)).rejects.toThrow(
      new AccessDenied(
        'User: arn:aws:sts::123456789012:assumed-role/reader/reader is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:eu-west-1:123456789012:parameter/other/x because no identity-based policy allows the ssm:GetParameter action',
      ),
    );
  });

  it('denies an action the table has no row for, loudly', async () => {
    // Act, Assess
    await expect(authorize('reader', 'ssm:DeleteParameters', { Names: [] }, untagged)).rejects.toThrow(
      /has no row for ssm:DeleteParameters/,
    );
  });

  it('reads resource tags only for actions that support aws:ResourceTag', async () => {
    // Prepare
    const tagged = async () => ({ 'gantry:managed': 'true' });
    const managedOnly = createAuthorizer({
      roles: {
        deployer: [
          allow(['ecs:UpdateService'], '*', { StringEquals: { 'aws:ResourceTag/gantry:managed': 'true' } }),
        ],
      },
      scope,
      principalOf: (caller) => caller,
    });

    // Act, Assess
    expect(authorizationTable['ecs:UpdateService']?.conditionKeys).toContain(resourceTagKey);
    await expect(
      managedOnly('deployer', 'ecs:UpdateService', { cluster: 'prod', service: 'web' }, tagged),
    ).resolves.toBeUndefined();
    await expect(
      managedOnly('deployer', 'ecs:UpdateService', { cluster: 'prod', service: 'web' }, untagged),
    ).rejects.toThrow(AccessDenied);
  });
});
