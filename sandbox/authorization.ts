/**
 * What AWS authorizes each call Gantry makes against, and an evaluator of IAM identity policies
 * over it: the sandbox SIMULATES IAM with this so a call a function's role would not allow on AWS
 * fails here too, with AWS's `AccessDeniedException`.
 *
 * Offline IAM simulators do not help: the one on npm evaluates a request for resource `*` as a
 * wildcard query and allows it, which is exactly how `ecs:ListTasks` on `container-instance/*`
 * looks fine and is denied on AWS. So this table is the check: one row per action Gantry calls,
 * the resource type and condition keys the Service Authorization Reference lists for it, the
 * known exceptions with who reported them, and how to derive from a call's input the resource ARN
 * and condition values AWS evaluates. Checked against AWS's documentation, not verified on AWS.
 */

import { AwsError } from './emulator/protocol.ts';

/** One authorization AWS performs for a call: an action on one resource, in a request context. */
export interface AuthorizationRequest {
  readonly action: string;
  /** The resource ARN AWS evaluates the policy's `Resource` against; `*` when the action has none. */
  readonly resource: string;
  /** Condition key → value, as AWS puts them in the request context. */
  readonly context: Readonly<Record<string, string>>;
}

/** Where the derived ARNs live. */
export interface ArnScope {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  /** The state machine a task token was issued by (`states:SendTask*` is authorized against it). */
  readonly stateMachineOfToken: (token: string) => string;
}

export interface ActionRow {
  /** The resource type the reference lists for the action; `*` when it lists none. */
  readonly resourceType: string;
  /** The condition keys the reference lists for the action that Gantry's policies use. */
  readonly conditionKeys: readonly string[];
  /** Where this row comes from. */
  readonly source: string;
  /** Where AWS authorizes differently from what the reference reads like, and who reported it. */
  readonly exception?: string;
  /** The authorizations one call performs: this action's, then any it depends on (PassRole…). */
  readonly requests: (input: Input, scope: ArnScope) => AuthorizationRequest[];
}

type Input = Readonly<Record<string, unknown>>;

const reference = (page: string) =>
  `Service Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/${page}`;
const ssmPage = reference('list_awssystemsmanager.html');
const ecsPage = reference('list_amazonelasticcontainerservice.html');
const ecrPage = reference('list_amazonelasticcontainerregistry.html');
const statesPage = reference('list_awsstepfunctions.html');
const eventsPage = reference('list_amazoneventbridge.html');
const iamPage = reference('list_awsidentityandaccessmanagementiam.html');
const dynamodbPage = reference('list_amazondynamodb.html');
const cloudwatchPage = reference('list_amazoncloudwatch.html');
const sqsPage = reference('list_amazonsqs.html');
const lightsailPage = reference('list_amazonlightsail.html');

const text = (input: Input, key: string): string | undefined =>
  typeof input[key] === 'string' ? (input[key] as string) : undefined;
const texts = (input: Input, key: string): string[] =>
  Array.isArray(input[key])
    ? (input[key] as unknown[]).filter((v): v is string => typeof v === 'string')
    : [];

const arn = (scope: ArnScope, service: string, resource: string) =>
  `arn:${scope.partition}:${service}:${scope.region}:${scope.account}:${resource}`;

/** A parameter's ARN from a name, a path, or a name with a `:version`/`:label` selector. */
function parameterArn(scope: ArnScope, name: string): string {
  if (name.startsWith('arn:')) return name.replace(/(:parameter\/.*?):[^/:]+$/, '$1');
  const bare = name.replace(/:[^/:]+$/, '');
  return arn(scope, 'ssm', `parameter${bare.startsWith('/') ? '' : '/'}${bare}`);
}

/** Parameter Store actions are authorized on the parameter (or path) the call names. */
const parameterRow = (action: string, key: 'Name' | 'Path'): ActionRow => ({
  resourceType: 'parameter',
  conditionKeys: [resourceTagKey],
  source: ssmPage,
  requests: (input, scope) => [
    { action, resource: parameterArn(scope, text(input, key) ?? ''), context: {} },
  ],
});

/** ECS names a cluster by name or ARN; absent means `default`. */
function clusterArn(scope: ArnScope, cluster: string | undefined): string {
  if (cluster?.startsWith('arn:')) return cluster;
  return arn(scope, 'ecs', `cluster/${cluster ?? 'default'}`);
}

const clusterName = (cluster: string) => cluster.slice(cluster.indexOf(':cluster/') + ':cluster/'.length);

/** `service/<cluster>/<name>`: the ARN format with the cluster name, which IAM evaluates. */
function serviceArn(scope: ArnScope, cluster: string, service: string): string {
  if (service.startsWith('arn:')) return service;
  return arn(scope, 'ecs', `service/${clusterName(cluster)}/${service}`);
}

function taskArn(scope: ArnScope, cluster: string, task: string): string {
  if (task.startsWith('arn:')) return task;
  return arn(scope, 'ecs', `task/${clusterName(cluster)}/${task}`);
}

const onServices =
  (action: string) =>
  (input: Input, scope: ArnScope): AuthorizationRequest[] => {
    const cluster = clusterArn(scope, text(input, 'cluster'));
    const services =
      action === 'ecs:UpdateService' ? [text(input, 'service') ?? ''] : texts(input, 'services');
    return services.map((service) => ({
      action,
      resource: serviceArn(scope, cluster, service),
      context: { 'ecs:cluster': cluster },
    }));
  };

/** An SQS call on one queue, named by `QueueName` (GetQueueUrl) or by its `QueueUrl`. */
const queueRow = (action: string): ActionRow => ({
  resourceType: 'queue',
  conditionKeys: [],
  source: sqsPage,
  requests: (input, scope) => {
    const url = text(input, 'QueueUrl');
    const name = text(input, 'QueueName') ?? url?.slice(url.lastIndexOf('/') + 1) ?? '';
    const account = text(input, 'QueueOwnerAWSAccountId') ?? url?.split('/').at(-2) ?? scope.account;
    return [
      { action, resource: `arn:${scope.partition}:sqs:${scope.region}:${account}:${name}`, context: {} },
    ];
  },
});

/** Step Functions actions authorized on the ARN the call names. */
const arnInInputRow = (action: string, resourceType: string, key: string): ActionRow => ({
  resourceType,
  conditionKeys: [],
  source: statesPage,
  requests: (input) => [{ action, resource: text(input, key) ?? '', context: {} }],
});

/** An ECS service-deployment action: one authorization per service deployment ARN in `key`. */
const serviceDeploymentRow = (action: string, key: string): ActionRow => ({
  resourceType: 'service-deployment',
  conditionKeys: [],
  source: ecsPage,
  requests: (input) =>
    (text(input, key) !== undefined ? [text(input, key) as string] : texts(input, key)).map((resource) => ({
      action,
      resource,
      context: {},
    })),
});

/** Task callbacks: the token names no resource, yet AWS authorizes them against its state machine. */
const callbackRow = (action: string): ActionRow => ({
  resourceType: '*',
  conditionKeys: [],
  source: statesPage,
  exception:
    'The reference lists no resource type, yet the call is authorized against the state machine that ' +
    'issued the token (an activity for activity tasks): aws/aws-cdk#8486.',
  requests: (input, scope) => [
    { action, resource: scope.stateMachineOfToken(text(input, 'taskToken') ?? ''), context: {} },
  ],
});

/**
 * DynamoDB item actions are authorized on the table the call names, with the partition key values
 * the request touches as `dynamodb:LeadingKeys` (DynamoDB developer guide, "Using IAM policy
 * conditions for fine-grained access control":
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
 * Gantry's items keep their partition key in `pk`; each call touches one partition.
 */
const tableRow = (action: string): ActionRow => ({
  resourceType: 'table',
  conditionKeys: ['dynamodb:LeadingKeys'],
  source: dynamodbPage,
  requests: (input, scope) => {
    const leadingKey = partitionKeyOf(input);
    return [
      {
        action,
        resource: arn(scope, 'dynamodb', `table/${text(input, 'TableName') ?? ''}`),
        context: leadingKey === undefined ? {} : { 'dynamodb:LeadingKeys': leadingKey },
      },
    ];
  },
});

/** The `pk` a GetItem/DeleteItem (`Key`), PutItem (`Item`) or Query (`pk = :v`) names. */
function partitionKeyOf(input: Input): string | undefined {
  const attribute = (item: unknown) =>
    ((item as { pk?: { S?: unknown } } | undefined)?.pk?.S as string) ?? undefined;
  const fromItem = attribute(input.Key) ?? attribute(input.Item);
  if (fromItem !== undefined) return fromItem;
  const keyCondition = text(input, 'KeyConditionExpression');
  const placeholder = keyCondition?.match(/(?:^|\s|\()pk\s*=\s*(:[A-Za-z0-9_]+)/)?.[1];
  const values = input.ExpressionAttributeValues as Record<string, { S?: string }> | undefined;
  return placeholder === undefined ? undefined : values?.[placeholder]?.S;
}

/** How the reference lists the resource-tag key: it covers `aws:ResourceTag/gantry:managed`. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: the reference's literal spelling, not a template.
export const resourceTagKey = 'aws:ResourceTag/${TagKey}';

/** One row per IAM action Gantry's functions call (and the ones those calls depend on). */
export const authorizationTable: Readonly<Record<string, ActionRow>> = {
  'ssm:GetParameter': parameterRow('ssm:GetParameter', 'Name'),
  // The path itself is the resource: a grant on `/gantry/*` alone does not cover `/gantry`.
  'ssm:GetParametersByPath': parameterRow('ssm:GetParametersByPath', 'Path'),
  // One call names up to ten parameters, each a resource of its own: a grant that covers some of
  // them and not the others refuses the call (Service Authorization Reference, list_awssystemsmanager.html:
  // GetParameters on resource type `parameter`).
  'ssm:GetParameters': {
    resourceType: 'parameter',
    conditionKeys: [resourceTagKey],
    source: ssmPage,
    requests: (input, scope) =>
      texts(input, 'Names').map((name) => ({
        action: 'ssm:GetParameters',
        resource: parameterArn(scope, name),
        context: {},
      })),
  },
  'ssm:PutParameter': parameterRow('ssm:PutParameter', 'Name'),
  'ssm:DeleteParameter': parameterRow('ssm:DeleteParameter', 'Name'),
  'ssm:LabelParameterVersion': parameterRow('ssm:LabelParameterVersion', 'Name'),
  'ecs:DescribeServices': {
    resourceType: 'service',
    conditionKeys: [resourceTagKey, 'ecs:cluster'],
    // Service-level resources and tags since 2019: aws/containers-roadmap#233.
    source: `${ecsPage}; aws/containers-roadmap#233`,
    // One authorization per service named: a grant on some of them does not cover the others.
    requests: onServices('ecs:DescribeServices'),
  },
  'ecs:UpdateService': {
    resourceType: 'service',
    conditionKeys: [resourceTagKey, 'ecs:cluster'],
    // Service-level resources and tags since 2019: aws/containers-roadmap#233.
    source: `${ecsPage}; aws/containers-roadmap#233`,
    requests: onServices('ecs:UpdateService'),
  },
  // Blue/green, linear and canary deployments: authorized on the service deployment the call names
  // (service-deployment/<cluster>/<service>/<id>), one authorization per ARN.
  'ecs:DescribeServiceDeployments': serviceDeploymentRow(
    'ecs:DescribeServiceDeployments',
    'serviceDeploymentArns',
  ),
  'ecs:ContinueServiceDeployment': serviceDeploymentRow(
    'ecs:ContinueServiceDeployment',
    'serviceDeploymentArn',
  ),
  'ecs:StopServiceDeployment': serviceDeploymentRow('ecs:StopServiceDeployment', 'serviceDeploymentArn'),
  'cloudwatch:DescribeAlarms': {
    resourceType: 'alarm',
    conditionKeys: [],
    source: cloudwatchPage,
    // One authorization per alarm named (alarm:<name>); a call naming none lists every alarm.
    requests: (input, scope) => {
      const names = texts(input, 'AlarmNames');
      return (names.length > 0 ? names : ['*']).map((name) => ({
        action: 'cloudwatch:DescribeAlarms',
        resource: `arn:${scope.partition}:cloudwatch:${scope.region}:${scope.account}:alarm:${name}`,
        context: {},
      }));
    },
  },
  'ecs:ListTasks': {
    resourceType: 'container-instance',
    conditionKeys: ['ecs:cluster'],
    source: ecsPage,
    exception:
      'Listing a cluster (by startedBy, serviceName…) without naming a container instance is authorized ' +
      'against "*", scoped with the ecs:cluster condition: cdklabs/construct-hub#1207, ' +
      'fabfuel/ecs-deploy#119, widdix/complete-aws-iam-reference#74.',
    requests: (input, scope) => {
      const cluster = clusterArn(scope, text(input, 'cluster'));
      const instance = text(input, 'containerInstance');
      const resource =
        instance === undefined
          ? '*'
          : instance.startsWith('arn:')
            ? instance
            : arn(scope, 'ecs', `container-instance/${clusterName(cluster)}/${instance}`);
      return [{ action: 'ecs:ListTasks', resource, context: { 'ecs:cluster': cluster } }];
    },
  },
  'ecs:DescribeTasks': {
    resourceType: 'task',
    conditionKeys: [resourceTagKey, 'ecs:cluster'],
    source: ecsPage,
    requests: (input, scope) => {
      const cluster = clusterArn(scope, text(input, 'cluster'));
      return texts(input, 'tasks').map((task) => ({
        action: 'ecs:DescribeTasks',
        resource: taskArn(scope, cluster, task),
        context: { 'ecs:cluster': cluster },
      }));
    },
  },
  'ecs:DescribeTaskDefinition': {
    resourceType: '*',
    conditionKeys: [],
    source: ecsPage,
    requests: () => [{ action: 'ecs:DescribeTaskDefinition', resource: '*', context: {} }],
  },
  'ecs:RegisterTaskDefinition': {
    resourceType: '*',
    conditionKeys: [],
    source:
      `${ecsPage}; tagging on create: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html; ` +
      "roles passed: the reference's operations table lists iam:PassRole with iam:PassedToService ecs-tasks.amazonaws.com",
    requests: (input, scope) => {
      const family = text(input, 'family') ?? '';
      const requests: AuthorizationRequest[] = [
        { action: 'ecs:RegisterTaskDefinition', resource: '*', context: {} },
      ];
      // Tags on create are authorized as ecs:TagResource on the revision being created; its number
      // is not known before the call, so the request names the family's revisions.
      if (Array.isArray(input.tags) && input.tags.length > 0) {
        requests.push({
          action: 'ecs:TagResource',
          resource: arn(scope, 'ecs', `task-definition/${family}:*`),
          context: { 'ecs:CreateAction': 'RegisterTaskDefinition' },
        });
      }
      for (const key of ['taskRoleArn', 'executionRoleArn']) {
        const role = text(input, key);
        if (role !== undefined) {
          requests.push({
            action: 'iam:PassRole',
            resource: role,
            context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
          });
        }
      }
      return requests;
    },
  },
  'ecs:TagResource': {
    // The reference lists every taggable ECS resource type; Gantry tags only task definitions.
    resourceType: 'task-definition',
    conditionKeys: [resourceTagKey, 'ecs:CreateAction'],
    source: ecsPage,
    requests: (input) => [
      { action: 'ecs:TagResource', resource: text(input, 'resourceArn') ?? '', context: {} },
    ],
  },
  'iam:PassRole': {
    resourceType: 'role',
    conditionKeys: ['iam:PassedToService'],
    source: iamPage,
    // Never a call of its own: RegisterTaskDefinition's row derives it.
    requests: () => {
      throw new Error('iam:PassRole is authorized as part of another call, never called directly');
    },
  },
  'ecr:DescribeImages': {
    resourceType: 'repository',
    conditionKeys: [resourceTagKey],
    source: ecrPage,
    requests: (input, scope) => [
      {
        action: 'ecr:DescribeImages',
        resource: `arn:${scope.partition}:ecr:${scope.region}:${text(input, 'registryId') ?? scope.account}:repository/${text(input, 'repositoryName') ?? ''}`,
        context: {},
      },
    ],
  },
  'states:StartExecution': arnInInputRow('states:StartExecution', 'stateMachine', 'stateMachineArn'),
  'states:DescribeExecution': arnInInputRow('states:DescribeExecution', 'execution', 'executionArn'),
  'states:SendTaskSuccess': callbackRow('states:SendTaskSuccess'),
  'states:SendTaskFailure': callbackRow('states:SendTaskFailure'),
  'states:SendTaskHeartbeat': callbackRow('states:SendTaskHeartbeat'),
  'events:PutEvents': {
    resourceType: 'event-bus',
    conditionKeys: ['events:source', 'events:detail-type'],
    source: eventsPage,
    // Each entry is authorized on its own bus, with its own source and detail-type.
    requests: (input, scope) =>
      (Array.isArray(input.Entries) ? (input.Entries as Input[]) : []).map((entry) => {
        const bus = text(entry, 'EventBusName') ?? 'default';
        return {
          action: 'events:PutEvents',
          resource: bus.startsWith('arn:') ? bus : arn(scope, 'events', `event-bus/${bus}`),
          context: {
            ...(text(entry, 'Source') !== undefined && { 'events:source': text(entry, 'Source') as string }),
            ...(text(entry, 'DetailType') !== undefined && {
              'events:detail-type': text(entry, 'DetailType') as string,
            }),
          },
        };
      }),
  },
  // SQS actions are authorized on the queue (resource type `queue`): by its name for GetQueueUrl,
  // by the name in the QueueUrl (`https://sqs.<region>.amazonaws.com/<account>/<name>`) otherwise.
  'sqs:GetQueueUrl': queueRow('sqs:GetQueueUrl'),
  'sqs:SendMessage': queueRow('sqs:SendMessage'),
  // GetInstances names no instance: it lists the region, so only "*" can grant it.
  'lightsail:GetInstances': {
    resourceType: '*',
    conditionKeys: [],
    source: `${lightsailPage}; Lightsail User Guide, security_iam_resource-based-policy-examples.html (read actions on "*")`,
    requests: () => [{ action: 'lightsail:GetInstances', resource: '*', context: {} }],
  },
  'lightsail:GetLoadBalancer': {
    resourceType: '*',
    conditionKeys: [],
    source: `${lightsailPage}; Lightsail User Guide, security_iam_resource-based-policy-examples.html (read actions on "*")`,
    exception:
      'A Lightsail load balancer ARN carries an id (LoadBalancer/<uuid>) that the call, which names the balancer, does not: the sandbox cannot derive it and authorizes against "*", so only a "*" grant (the one Gantry uses) passes here.',
    requests: () => [{ action: 'lightsail:GetLoadBalancer', resource: '*', context: {} }],
  },
  'dynamodb:GetItem': tableRow('dynamodb:GetItem'),
  'dynamodb:PutItem': tableRow('dynamodb:PutItem'),
  'dynamodb:UpdateItem': tableRow('dynamodb:UpdateItem'),
  'dynamodb:DeleteItem': tableRow('dynamodb:DeleteItem'),
  'dynamodb:Query': tableRow('dynamodb:Query'),
};

/** The IAM service prefix of each AWS JSON protocol target prefix the sandbox serves. */
export const iamServiceOfTarget: Readonly<Record<string, string>> = {
  AmazonSSM: 'ssm',
  AmazonEC2ContainerServiceV20141113: 'ecs',
  AmazonEC2ContainerRegistry_V20150921: 'ecr',
  AWSStepFunctions: 'states',
  AWSEvents: 'events',
  DynamoDB_20120810: 'dynamodb',
  GraniteServiceVersion20100801: 'cloudwatch',
  AmazonSQS: 'sqs',
  Lightsail_20161128: 'lightsail',
};

/** An action the table has no row for: the sandbox denies it rather than guess. */
export class UnknownAction extends Error {
  constructor(readonly action: string) {
    super(
      `the sandbox's authorization table (sandbox/authorization.ts) has no row for ${action}: add one, citing the Service Authorization Reference`,
    );
    this.name = 'UnknownAction';
  }
}

/** The authorizations AWS performs for one call. */
export function authorizationsFor(action: string, input: Input, scope: ArnScope): AuthorizationRequest[] {
  const row = authorizationTable[action];
  if (row === undefined) throw new UnknownAction(action);
  return row.requests(input, scope);
}

// ---- identity policies ----------------------------------------------------------------------

/** An IAM policy statement with CloudFormation intrinsics already resolved. */
export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** What `Ref` and `Fn::Sub` resolve to when the sandbox reads the stack's policies. */
export interface StackValues {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly stackName: string;
  /** Logical id or parameter name → value (the state machine's ARN, a parameter's default); `<id>.<attribute>` for Fn::GetAtt. */
  readonly refs: Readonly<Record<string, string>>;
}

/** Resolves the intrinsics Gantry's policies use (`Ref`, `Fn::Sub`, `Fn::GetAtt`); anything else throws. */
export function resolveIntrinsics(value: unknown, stack: StackValues): unknown {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(item, stack));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const [key, argument] = entries[0] ?? [];
  if (entries.length === 1 && key === 'Ref') return resolveRef(String(argument), stack);
  if (entries.length === 1 && key === 'Fn::Sub') {
    if (typeof argument !== 'string')
      throw new Error('Fn::Sub with a variable map is not resolved by the sandbox');
    return argument.replace(/\$\{([^}]+)\}/g, (_, name: string) => resolveRef(name, stack));
  }
  if (entries.length === 1 && key === 'Fn::GetAtt' && Array.isArray(argument)) {
    const value = stack.refs[`${argument[0]}.${argument[1]}`];
    if (value === undefined) throw new Error(`Fn::GetAtt ${argument.join('.')} is not known to the sandbox`);
    return value;
  }
  if (key?.startsWith('Fn::')) throw new Error(`${key} is not resolved by the sandbox`);
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, stack)]));
}

function resolveRef(name: string, stack: StackValues): string {
  const pseudo: Record<string, string> = {
    'AWS::Partition': stack.partition,
    'AWS::Region': stack.region,
    'AWS::AccountId': stack.account,
    'AWS::StackName': stack.stackName,
  };
  const value = pseudo[name] ?? stack.refs[name];
  if (value === undefined) throw new Error(`the sandbox cannot resolve Ref ${name}`);
  return value;
}

const list = <T>(value: T | readonly T[]): readonly T[] => (Array.isArray(value) ? value : [value as T]);

const compiledPatterns = new Map<string, RegExp>();

/** IAM's wildcard match: `*` any run of characters, `?` one; everything else literal. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const key = `${caseInsensitive ? 'i' : 's'}${pattern}`;
  let regex = compiledPatterns.get(key);
  if (regex === undefined) {
    const body = [...pattern]
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${body}$`, caseInsensitive ? 'is' : 's');
    // Policies are few and fixed: every pattern is compiled once per process.
    compiledPatterns.set(key, regex);
  }
  return regex.test(value);
}

/**
 * The condition operators Gantry's policies use. A missing key fails the condition (these are not
 * the `…IfExists` forms). Documented in the IAM User Guide, "IAM JSON policy elements: Condition
 * operators": https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 */
const operators: Record<string, (expected: string, actual: string) => boolean> = {
  StringEquals: (expected, actual) => expected === actual,
  StringLike: (expected, actual) => wildcardMatch(expected, actual),
  ArnEquals: (expected, actual) => expected === actual,
  ArnLike: (expected, actual) => wildcardMatch(expected, actual),
};

function conditionsHold(condition: PolicyStatement['Condition'], context: Record<string, string>): boolean {
  if (condition === undefined) return true;
  // Condition key names are case-insensitive; their values are not.
  const byKey = new Map(Object.entries(context).map(([key, value]) => [key.toLowerCase(), value]));
  return Object.entries(condition).every(([qualified, keys]) => {
    // `ForAllValues:` holds when every value of the (multivalued) key matches, and also when the
    // key is absent from the request (IAM User Guide, "Set operators for multivalued context keys":
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
    const forAllValues = qualified.startsWith('ForAllValues:');
    const operator = forAllValues ? qualified.slice('ForAllValues:'.length) : qualified;
    const test = operators[operator];
    if (test === undefined)
      throw new Error(`the sandbox does not evaluate the ${qualified} condition operator`);
    return Object.entries(keys).every(([key, expected]) => {
      const actual = byKey.get(key.toLowerCase());
      if (actual === undefined) return forAllValues;
      return list(expected).some((value) => test(value, actual));
    });
  });
}

function statementApplies(statement: PolicyStatement, request: AuthorizationRequest): boolean {
  return (
    list(statement.Action).some((action) => wildcardMatch(action, request.action, true)) &&
    list(statement.Resource).some((resource) => wildcardMatch(resource, request.resource)) &&
    conditionsHold(statement.Condition, request.context as Record<string, string>)
  );
}

/** IAM's evaluation for one identity policy: an explicit Deny wins, else some Allow must apply. */
export function isAllowed(statements: readonly PolicyStatement[], request: AuthorizationRequest): boolean {
  const applying = statements.filter((statement) => statementApplies(statement, request));
  return applying.some((s) => s.Effect === 'Allow') && !applying.some((s) => s.Effect === 'Deny');
}

/**
 * AWS's denial message, as reported in cdklabs/construct-hub#1207: "User: <assumed role> is not
 * authorized to perform: <action> on resource: <arn> because no identity-based policy allows the
 * <action> action".
 */
export function accessDeniedMessage(principal: string, request: AuthorizationRequest): string {
  return `User: ${principal} is not authorized to perform: ${request.action} on resource: ${request.resource} because no identity-based policy allows the ${request.action} action`;
}

/** Reads a resource's tags as AWS would for `aws:ResourceTag/...`; undefined when it has none. */
export type ResourceTags = (resource: string) => Promise<Readonly<Record<string, string>> | undefined>;

export interface AuthorizerOptions {
  /** Function key → its role's statements, intrinsics resolved. */
  readonly roles: Readonly<Record<string, readonly PolicyStatement[]>>;
  readonly scope: ArnScope;
  /** How AWS names the caller in a denial (`arn:aws:sts::<account>:assumed-role/<role>/<session>`). */
  readonly principalOf: (caller: string) => string;
}

/**
 * AWS's answer to a refused call: `AccessDeniedException`, HTTP 400 ("Common Errors" of each API
 * reference, e.g. https://docs.aws.amazon.com/AmazonECS/latest/APIReference/CommonErrors.html).
 */
export class AccessDenied extends AwsError {
  constructor(message: string) {
    super('AccessDeniedException', message, 400);
  }
}

/**
 * Checks one call made by `caller` (a function key): every authorization it performs must be
 * allowed by that function's role, else it throws {@link AccessDenied} naming the first refused.
 */
export function createAuthorizer(options: AuthorizerOptions) {
  return async (caller: string, action: string, input: Input, resourceTags: ResourceTags): Promise<void> => {
    const principal = options.principalOf(caller);
    const statements = options.roles[caller];
    if (statements === undefined) throw new AccessDenied(`${principal}: no role is declared for ${caller}`);
    let requests: AuthorizationRequest[];
    try {
      requests = authorizationsFor(action, input, options.scope);
    } catch (error) {
      if (error instanceof UnknownAction) throw new AccessDenied(`${principal}: ${error.message}`);
      throw error;
    }
    for (const request of requests) {
      const tagged = await withResourceTags(request, resourceTags);
      if (!isAllowed(statements, tagged)) throw new AccessDenied(accessDeniedMessage(principal, tagged));
    }
  };
}

/** Adds `aws:ResourceTag/<key>` for each tag of the resource, where the action supports the key. */
async function withResourceTags(
  request: AuthorizationRequest,
  resourceTags: ResourceTags,
): Promise<AuthorizationRequest> {
  const row = authorizationTable[request.action];
  if (request.resource === '*' || !row?.conditionKeys.includes(resourceTagKey)) return request;
  const tags = (await resourceTags(request.resource)) ?? {};
  return {
    ...request,
    context: {
      ...request.context,
      ...Object.fromEntries(Object.entries(tags).map(([key, value]) => [`aws:ResourceTag/${key}`, value])),
    },
  };
}
