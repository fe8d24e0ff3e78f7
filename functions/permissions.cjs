// Least privilege, one IAM role per function, generated from one table so a reviewer reads every
// grant in one place (docs/architecture.md lists the same calls per function). Called by
// serverless.yml while osls resolves variables, with the parameter prefix serverless.yml sets.

const allow = (Action, Resource, Condition) => ({
  Effect: 'Allow',
  Action,
  Resource,
  ...(Condition && { Condition }),
});

function permissionsFor(prefix) {
  const parameter = (path) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${path}`,
  });
  const appEnv = (leaf) => parameter(`${prefix}/*/*/${leaf}`);
  // The coordination table (serverless.yml). Each role is also held to the partitions it works on
  // with `dynamodb:LeadingKeys` (DynamoDB developer guide, "Using IAM policy conditions for
  // fine-grained access control"): app#<app>#<env> for locks and history, wait#<deployment> for
  // parked rollout tokens.
  const table = { 'Fn::GetAtt': ['CoordinationTable', 'Arn'] };
  const onPartitions = (actions, leadingKeys) =>
    allow(actions, table, { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys } });
  const appEnvItems = (actions) => onPartitions(actions, ['app#*']);
  const waitItems = (actions) => onPartitions(actions, ['wait#*']);
  // The config indexes, one partition each (functions/src/repository-index/index-table.ts): the
  // repository index routes pushes, the alarm index routes CloudWatch alarms.
  const repositoryIndexItems = (actions) => onPartitions(actions, ['repository-index']);
  const alarmIndexItems = (actions) => onPartitions(actions, ['alarm-index']);
  const indexItems = (actions) => onPartitions(actions, ['repository-index', 'alarm-index']);
  const prefixTree = [parameter(prefix), parameter(`${prefix}/*`)];
  const stateMachine = { Ref: 'DeployStateMachine' };
  // By name, not by reference: the state machine depends on acquireLock, so a reference would be a cycle.
  // serverless.yml names the machine `<service>-<stage>-deploy`, which is the stack name plus `-deploy`.
  const executions = {
    'Fn::Sub':
      'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}-deploy:*',
  };
  // The machine itself, by name for the same reason: task callbacks are authorized against it.
  const deployMachine = {
    'Fn::Sub':
      'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-deploy',
  };
  const services = { 'Fn::Sub': 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/*/*' };
  // Gantry changes only services marked for it: write access to `<prefix>/*` must not let anyone run an
  // image on any service in the region. ecs:DescribeServices and ecs:UpdateService both support
  // aws:ResourceTag/${TagKey} on the service resource (Service Authorization Reference,
  // list_amazonelasticcontainerservice.html; launched in 2019, aws/containers-roadmap#233;
  // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/control-access-with-tags.html).
  const managedOnly = { StringEquals: { 'aws:ResourceTag/gantry:managed': 'true' } };
  // Roles Gantry may pass to ECS tasks: the role-name patterns of the stack's parameters.
  const passableRoles = ['TaskRoleNames', 'ExecutionRoleNames'].map((parameterName) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/\${${parameterName}}`,
  }));
  const ecsTasks = { 'Fn::Sub': 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/*/*' };
  const clusters = { 'Fn::Sub': 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/*' };
  const taskDefinitions = {
    'Fn::Sub': 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/*:*',
  };
  const repositories = {
    'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*',
  };
  // Blue/green, linear and canary deployments are authorized on the service deployment:
  // service-deployment/<cluster>/<service>/<id> (Service Authorization Reference,
  // list_amazonelasticcontainerservice.html, resource type service-deployment). No tag condition:
  // the deployment is only reachable through a service Gantry already had to be allowed to update.
  const serviceDeployments = {
    'Fn::Sub': 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service-deployment/*/*/*',
  };
  // DescribeAlarms is authorized on the alarms it names (Service Authorization Reference,
  // list_amazoncloudwatch.html, resource type alarm).
  const alarms = { 'Fn::Sub': 'arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*' };
  const defaultBus = {
    'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default',
  };

  // A swarm's wake-up queues, by the name pattern of the stack parameter SwarmQueueNames. SQS
  // authorizes GetQueueUrl and SendMessage on the queue ARN (Service Authorization Reference,
  // list_amazonsqs.html, resource type `queue`).
  const swarmQueues = {
    'Fn::Sub': 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${SwarmQueueNames}',
  };
  const signalSwarm = [
    allow(['ssm:PutParameter'], appEnv('order')),
    allow(['sqs:GetQueueUrl', 'sqs:SendMessage'], swarmQueues),
  ];
  // Lightsail: GetInstances lists the region (no filter, no resource) and GetLoadBalancer is granted
  // on "*" as in the Lightsail User Guide's own resource-level example (security_iam_resource-based-
  // policy-examples.html: read actions on "*"); the Service Authorization Reference
  // (list_amazonlightsail.html) lists no condition Gantry could narrow them with. Read-only.
  const lightsailReads = (actions) => allow(actions, '*');

  const readRollout = [
    allow(['ecs:DescribeServices'], services, managedOnly),
    allow(['ecs:DescribeServiceDeployments'], serviceDeployments),
    // Listing a cluster's tasks by startedBy names no container instance, so AWS authorizes it
    // against "*", scoped by the ecs:cluster condition (cdklabs/construct-hub#1207,
    // fabfuel/ecs-deploy#119); a grant on container-instance/* is refused.
    allow(['ecs:ListTasks'], '*', { StringLike: { 'ecs:cluster': clusters } }),
    allow(['ecs:DescribeTasks'], ecsTasks),
  ];
  // Task-token calls are authorized against the state machine that issued the token, although the
  // Service Authorization Reference lists no resource for them (aws/aws-cdk#8486): a role that can
  // resume the deploy machine's tasks cannot resume any other machine's.
  const resume = allow(['states:SendTaskSuccess', 'states:SendTaskFailure'], deployMachine);
  // A lock waiter is only ever resumed with success (woken or superseded), never failed.
  const wake = allow(['states:SendTaskSuccess'], deployMachine);

  /** Function key → the statements it needs beyond writing its own logs. */
  return {
    // Reads the repository's index entry, then the configs and live releases it names; scans the
    // configs and writes the entry for a repository the index has never seen.
    onImagePushed: [
      repositoryIndexItems(['dynamodb:GetItem', 'dynamodb:PutItem']),
      allow(['ssm:GetParameters'], [appEnv('config'), appEnv('release')]),
      allow(['ssm:GetParametersByPath'], prefixTree),
      allow(['states:StartExecution'], stateMachine),
    ],
    // Reads the changed config and moves its app/environment between the entries of both indexes.
    onConfigChanged: [
      allow(['ssm:GetParameter'], appEnv('config')),
      indexItems(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']),
    ],
    // Reads the alarm's index entry (an alarm: scans the configs and writes the entry when the index
    // has never seen it), then the configs and live releases it names, or the requested
    // app/environment's, by name. A trigger older than the live release starts nothing.
    onRollbackRequested: [
      alarmIndexItems(['dynamodb:GetItem', 'dynamodb:PutItem']),
      allow(['ssm:GetParameters'], [appEnv('config'), appEnv('release')]),
      allow(['ssm:GetParametersByPath'], prefixTree),
      allow(['states:StartExecution'], stateMachine),
      // A deploy in flight is told to roll back at once: its pointer, its parked token, the resume.
      appEnvItems(['dynamodb:GetItem']),
      waitItems(['dynamodb:GetItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem']),
      // Only ever fails the parked wait (RollbackRequested), never resumes it with success.
      allow(['states:SendTaskFailure'], deployMachine),
    ],
    resolveConfig: [
      // The config and the live release in one call, authorized on each parameter it names (Service
      // Authorization Reference, list_awssystemsmanager.html: GetParameters on resource type `parameter`).
      allow(['ssm:GetParameters'], [appEnv('config'), appEnv('release')]),
      // A swarm target's hosts must be there and running before an order is written.
      lightsailReads(['lightsail:GetInstances']),
      allow(['ecr:DescribeImages'], repositories),
      // Reads any service, tagged or not, so that an unmarked one fails here with a clear error
      // instead of an AccessDeniedException halfway through a deploy.
      allow(['ecs:DescribeServices'], services),
      // A rollback `to` a release of the history finds it there, and checks its revision still runs
      // (DescribeTaskDefinition supports no resource-level permissions, as for deployEcs).
      appEnvItems(['dynamodb:Query']),
      allow(['ecs:DescribeTaskDefinition'], '*'),
    ],
    // Takes the lock, then reads the waiter and the newest release record (reads the lock when it is
    // held); withdraws its own waiter item. A request that took the lock and then finds a newer one
    // lets go and wakes the waiter, as ReleaseLock and WakeWaiter would (functions/src/lock.ts).
    acquireLock: [
      appEnvItems(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query']),
      allow(['states:DescribeExecution'], executions),
      wake,
    ],
    // Parks its token in the waiter slot, resumes the waiter it replaces (or itself).
    waitForLock: [appEnvItems(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']), wake],
    wakeWaiter: [appEnvItems(['dynamodb:DeleteItem']), wake],
    // A dead execution's lock and waiter item are deleted (conditionally), the next waiter resumed.
    onExecutionEnded: [appEnvItems(['dynamodb:DeleteItem']), wake],
    deployEcs: [
      allow(['ecs:DescribeServices', 'ecs:UpdateService'], services, managedOnly),
      // Neither call supports resource-level permissions.
      allow(['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'], '*'),
      allow(['ecs:TagResource'], taskDefinitions, {
        StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' },
      }),
      allow(['iam:PassRole'], passableRoles, {
        StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
      }),
      // Swarm: the environment's version (not its value: no decryption, no kms:Decrypt) and what
      // the agent last reported run, then the order and the wake-up.
      allow(['ssm:GetParameter'], [appEnv('environment'), appEnv('status')]),
      ...signalSwarm,
    ],
    rollback: [
      allow(['ecs:DescribeServices', 'ecs:UpdateService'], services, managedOnly),
      allow(['ecs:DescribeServiceDeployments', 'ecs:StopServiceDeployment'], serviceDeployments),
      ...signalSwarm,
    ],
    // Also notes the deploy's rollout in flight under its app/environment (rollback requests).
    waitForRollout: [
      waitItems(['dynamodb:PutItem', 'dynamodb:DeleteItem']),
      appEnvItems(['dynamodb:PutItem']),
      ...readRollout,
      // A swarm rollout's first look reads the agent's status parameter.
      allow(['ssm:GetParameter'], appEnv('status')),
      resume,
    ],
    // The agent's reports: judged from the event and the parked item alone.
    onSwarmEvent: [waitItems(['dynamodb:GetItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem']), resume],
    checkHealthGate: [lightsailReads(['lightsail:GetInstances', 'lightsail:GetLoadBalancer'])],
    // PutItem: a resume that failed transiently parks its token again for the redelivery.
    onEcsEvent: [
      waitItems(['dynamodb:GetItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem']),
      ...readRollout,
      resume,
    ],
    checkRollout: [
      waitItems(['dynamodb:DeleteItem']),
      ...readRollout,
      // The timeout path of a swarm rollout: the agent's status parameter.
      allow(['ssm:GetParameter'], appEnv('status')),
    ],
    // Gate checks and the answer to the pause hook.
    decideGate: [
      allow(['ecs:ContinueServiceDeployment'], serviceDeployments),
      allow(['ecs:ListTasks'], '*', { StringLike: { 'ecs:cluster': clusters } }),
      allow(['ecs:DescribeTasks'], ecsTasks),
      allow(['cloudwatch:DescribeAlarms'], alarms),
    ],
    // Appends to the release history (the table) and writes the live release (Parameter Store).
    // Query: the newest record and the waiter, for the Release Status Changed event, in one read
    // (functions/src/release.ts readPartitionHead).
    recordOutcome: [
      appEnvItems(['dynamodb:Query', 'dynamodb:PutItem']),
      allow(['ssm:PutParameter'], appEnv('release')),
      // Announcements only: the source is Gantry's own, on the default bus where users' rules are.
      allow(['events:PutEvents'], defaultBus, { StringEquals: { 'events:source': 'gantry' } }),
    ],
    // Reads the configs and live releases (one tree walk), lists the tracked repositories, reads
    // the history of a candidate digest, and starts the deploy a lost push event would have started.
    // Drift: reads what the service runs, confirms no deploy holds the lock and the live release
    // is still the one compared, announces Drift Detected, and may start a restore.
    reconcile: [
      allow(['ssm:GetParametersByPath'], prefixTree),
      // The live release read again before a drift is reported, and what a swarm runs: its agent's
      // last report (the target seam's readLive).
      allow(['ssm:GetParameter'], [appEnv('release'), appEnv('status')]),
      allow(['ecr:DescribeImages'], repositories),
      appEnvItems(['dynamodb:Query', 'dynamodb:GetItem']),
      allow(['states:DescribeExecution'], executions),
      allow(['states:StartExecution'], stateMachine),
      allow(['ecs:DescribeServices'], services, managedOnly),
      allow(['ecs:DescribeTaskDefinition'], '*'),
      allow(['events:PutEvents'], defaultBus, { StringEquals: { 'events:source': 'gantry' } }),
      // Rebuilds both config indexes each run (functions/src/repository-index/config-change.ts).
      indexItems(['dynamodb:Query', 'dynamodb:PutItem']),
    ],
  };
}

const roleName = (key) => `${key[0].toUpperCase()}${key.slice(1)}Role`;

module.exports.permissionsFor = permissionsFor;
module.exports.roleName = roleName;
module.exports.roles = async ({ resolveVariable }) => ({
  Resources: Object.fromEntries(
    Object.entries(permissionsFor(await resolveVariable('self:custom.parameterPrefix'))).map(
      ([key, statements]) => [
        roleName(key),
        {
          Type: 'AWS::IAM::Role',
          Properties: {
            AssumeRolePolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
              ],
            },
            Policies: [
              {
                PolicyName: key,
                PolicyDocument: {
                  Version: '2012-10-17',
                  Statement: [
                    allow(['logs:CreateLogStream', 'logs:PutLogEvents'], {
                      'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/\${AWS::StackName}-${key}:*`,
                    }),
                    ...statements,
                  ],
                },
              },
            ],
          },
        },
      ],
    ),
  ),
});
