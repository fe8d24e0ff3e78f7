import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const { permissionsFor } = require('../../functions/permissions.cjs') as {
  permissionsFor: (prefix: string) => Record<string, { Action: string[]; Resource: unknown }[]>;
};
const permissions = permissionsFor('/gantry');

type Template = {
  Parameters: Record<string, { Type: string; Default?: string }>;
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
};

describe('serverless.yml', () => {
  let template: Template;
  let packageDir: string;

  beforeAll(async () => {
    packageDir = await mkdtemp(join(tmpdir(), 'gantry-package-'));
    await run('npx', ['osls', 'package', '--stage', 'ci', '--package', packageDir], { timeout: 240_000 });
    template = JSON.parse(
      readFileSync(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8'),
    );
  }, 300_000);

  it('packages offline into a template cfn-lint finds no error in', async () => {
    // cfn-lint exits 2 for errors, 4 for warnings (dependency hints serverless adds), 0 when clean.
    const lint = await run('cfn-lint', [
      '--format',
      'parseable',
      join(packageDir, 'cloudformation-template-update-stack.json'),
    ]).catch((error: { code: number; stdout: string }) => error);
    const errors = ('stdout' in lint ? lint.stdout : '').split('\n').filter((line) => /:E\d{4}:/.test(line));
    expect(errors).toEqual([]);
  }, 120_000);

  it('runs every function on nodejs22.x with a role of its own', () => {
    const functions = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'AWS::Lambda::Function',
    );
    expect(functions).toHaveLength(Object.keys(permissions).length);
    const roles = functions.map((fn) => JSON.stringify(fn.Properties.Role));
    expect(new Set(roles).size).toBe(functions.length);
    for (const fn of functions) expect(fn.Properties.Runtime).toBe('nodejs22.x');
  });

  // Wiring only: whether the table itself is right is checked against real calls in least-privilege.test.ts.
  it("gives each function's role exactly its row of the permissions table, and no wildcard action", () => {
    for (const [key, statements] of Object.entries(permissions)) {
      const role = template.Resources[`${key[0]?.toUpperCase()}${key.slice(1)}Role`];
      const policies = role?.Properties.Policies as {
        PolicyDocument: { Statement: { Action: string[] }[] };
      }[];
      const policy = policies[0];
      const actions = policy?.PolicyDocument.Statement.flatMap((statement) => statement.Action) ?? [];
      expect(actions.filter((action) => action.includes('*'))).toEqual([]);
      expect(new Set(actions)).toEqual(
        new Set([
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          ...statements.flatMap((statement) => statement.Action),
        ]),
      );
    }
  });

  it('routes ECR pushes, ECS state changes, config changes, rollback requests and agent reports through EventBridge rules', () => {
    const patterns = Object.values(template.Resources)
      .filter((resource) => resource.Type === 'AWS::Events::Rule' && resource.Properties.EventPattern)
      .map((rule) => rule.Properties.EventPattern as { source: string[]; 'detail-type': string[] });
    expect(patterns.map((pattern) => `${pattern.source[0]}/${pattern['detail-type'][0]}`).sort()).toEqual([
      'aws.cloudwatch/CloudWatch Alarm State Change',
      'aws.ecr/ECR Image Action',
      'aws.ecs/ECS Deployment State Change',
      'aws.ecs/ECS Hook State Change',
      'aws.ecs/ECS Task State Change',
      'aws.ssm/Parameter Store Change',
      'aws.states/Step Functions Execution Status Change',
      'gantry.agent/Swarm Rollout State Change',
      'gantry/Rollback Requested',
    ]);
  });

  it('runs the reconciler on a scheduled rule, every 5 minutes by default', () => {
    const scheduled = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'AWS::Events::Rule' && resource.Properties.ScheduleExpression,
    );
    expect(scheduled.map((rule) => rule.Properties)).toEqual([
      expect.objectContaining({
        Name: 'gantry-ci-reconcile',
        ScheduleExpression: 'rate(5 minutes)',
        State: 'ENABLED',
      }),
    ]);
  });

  it('never logs execution data, where task tokens would appear', () => {
    const machine = Object.values(template.Resources).find(
      (resource) => resource.Type === 'AWS::StepFunctions::StateMachine',
    );
    expect(machine?.Properties.LoggingConfiguration).toMatchObject({ IncludeExecutionData: false });
  });

  it('puts the rule for events Gantry acts on on the Gantry bus, and denies putting there to unnamed roles', () => {
    const rules = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'AWS::Events::Rule' && resource.Properties.EventPattern,
    );
    const busOf = (detailType: string) =>
      rules.find(
        (rule) =>
          (rule.Properties.EventPattern as { 'detail-type': string[] })['detail-type'][0] === detailType,
      )?.Properties.EventBusName;
    expect(busOf('Rollback Requested')).toEqual({ 'Fn::GetAtt': ['GantryEventBus', 'Name'] });
    expect(busOf('Swarm Rollout State Change')).toEqual({ 'Fn::GetAtt': ['GantryEventBus', 'Name'] });
    // AWS's own events (alarms, ECR, ECS) only ever arrive on the default bus.
    expect(busOf('CloudWatch Alarm State Change')).toBeUndefined();
    const bus = template.Resources.GantryEventBus;
    expect(bus?.Type).toBe('AWS::Events::EventBus');
    expect(bus?.Properties.Policy).toMatchObject({
      Statement: [
        {
          Effect: 'Deny',
          Principal: '*',
          Action: 'events:PutEvents',
          Condition: { ArnNotLike: { 'aws:PrincipalArn': expect.anything() } },
        },
        {
          // Only the swarm agent's role may put the agent's source.
          Sid: 'OnlyTheAgentReports',
          Effect: 'Deny',
          Condition: {
            StringEquals: { 'events:source': 'gantry.agent' },
            ArnNotLike: { 'aws:PrincipalArn': expect.anything() },
          },
        },
      ],
    });
  });

  it("creates the swarm agent's role only when the stack names the app/envs it serves, trusting SSM", () => {
    const role = template.Resources.SwarmAgentRole as unknown as {
      Condition: string;
      Properties: {
        AssumeRolePolicyDocument: { Statement: { Principal: unknown }[] };
        Policies: { PolicyDocument: { Statement: { Action: string | string[]; Condition?: unknown }[] } }[];
      };
    };
    expect(role.Condition).toBe('HasSwarmAgent');
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0]?.Principal).toEqual({
      Service: 'ssm.amazonaws.com',
    });
    const statements = role.Properties.Policies[0]?.PolicyDocument.Statement ?? [];
    const actions = statements.flatMap((statement) => statement.Action);
    expect(actions.filter((action) => action.startsWith('states:'))).toEqual([]);
    expect(statements.find((statement) => statement.Action === 'events:PutEvents')?.Condition).toEqual({
      StringEquals: { 'events:source': 'gantry.agent' },
    });
  });

  it('names the roles Gantry may pass and the rollback requesters in stack parameters with defaults', () => {
    for (const name of ['TaskRoleNames', 'ExecutionRoleNames', 'RollbackRequesterRoleNames']) {
      expect(template.Parameters[name]).toMatchObject({ Type: 'String', Default: expect.any(String) });
    }
  });
});
