import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../sandbox/emulator/index.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

type Statement = { Action: string[]; Resource: unknown; Condition?: unknown };
const require = createRequire(import.meta.url);
const { permissionsFor } = require('../../functions/permissions.cjs') as {
  permissionsFor: (prefix: string) => Record<string, Statement[]>;
};

const region = 'eu-west-1';
const account = '123456789012';
const iamPrefix: Record<CallRecord['service'], string> = {
  ssm: 'ssm',
  ecs: 'ecs',
  ecr: 'ecr',
  sfn: 'states',
  events: 'events',
  sqs: 'sqs',
};

/** The resource ARNs a statement names, with CloudFormation's pseudo parameters filled in. */
function resourcePatterns(resource: unknown): string[] {
  const list = Array.isArray(resource) ? resource : [resource];
  return list.map((entry) => {
    if (typeof entry === 'string') return entry;
    const sub = (entry as { 'Fn::Sub'?: string })['Fn::Sub'];
    if (sub) {
      return sub
        .replaceAll('${AWS::Partition}', 'aws')
        .replaceAll('${AWS::Region}', region)
        .replaceAll('${AWS::AccountId}', account)
        .replaceAll('${AWS::StackName}', 'gantry-sandbox');
    }
    return '*'; // a Ref (the state machine): not checked here
  });
}

function matches(pattern: string, arn: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(arn);
}

/** The SSM parameter a call touches, as the ARN IAM authorises. */
function parameterArn(call: CallRecord): string | undefined {
  const name =
    (call.input as { Name?: string; Path?: string }).Name ?? (call.input as { Path?: string }).Path;
  return name ? `arn:aws:ssm:${region}:${account}:parameter${name}` : undefined;
}

function allowed(call: CallRecord, statements: Statement[]): boolean {
  const action = `${iamPrefix[call.service]}:${call.operation}`;
  return statements.some((statement) => {
    if (!statement.Action.includes(action)) return false;
    if (call.service !== 'ssm') return true;
    const arn = parameterArn(call);
    return arn !== undefined && resourcePatterns(statement.Resource).some((pattern) => matches(pattern, arn));
  });
}

/**
 * Not circular: the roles come from functions/permissions.cjs, the calls from running the real
 * handlers through the sandbox, each stamped with the function that made it.
 */
describe('least privilege (sandbox)', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 500 });
    // Every path: release, crash-loop rollback, lock contention, manual start by tag, alarm rollback.
    sandbox.seedApp({
      app: 'web',
      env: 'prod',
      repository: 'web',
      config: { rollbackAlarms: ['web-prod-5xx'] },
    });
    await sandbox.push({ repository: 'web', tag: 'v1.0.0' });
    await sandbox.idle();
    // Tasks crash a simulated minute in (not 10 s), so the wait is parked before the first stop
    // at speed 500 even on a loaded machine, and onEcsEvent is the one that resumes it.
    await sandbox.push({
      repository: 'web',
      tag: 'v1.1.0',
      scenario: { kind: 'crashLoop', startSeconds: 60 },
    });
    await sandbox.idle();
    await sandbox.push({
      repository: 'web',
      tag: 'v1.2.0',
      scenario: { kind: 'healthy', stableAfterSeconds: 120 },
    });
    await sandbox.elapse(5);
    await sandbox.push({ repository: 'web', tag: 'v1.3.0' });
    await sandbox.idle();
    sandbox.emulator.ecr.putImage({ repository: 'web', tag: 'v1.4.0' });
    await sandbox.stepFunctions.waitForExecution(
      sandbox.startExecution({ app: 'web', env: 'prod', image: 'web:v1.4.0' }),
    );
    await sandbox.bus.publish({
      version: '0',
      id: '5f0a8c1e-0d7b-4c1e-9b7a-3c2d1e0f9a8b',
      'detail-type': 'CloudWatch Alarm State Change',
      source: 'aws.cloudwatch',
      account,
      time: new Date().toISOString(),
      region,
      resources: [],
      detail: { alarmName: 'web-prod-5xx', state: { value: 'ALARM', reason: 'threshold crossed' } },
    });
    await sandbox.idle();
  }, 60_000);
  afterAll(async () => {
    await sandbox.close();
  });

  it('made its calls from every function it has a role for', () => {
    const callers = new Set(sandbox.emulator.calls.flatMap((call) => (call.caller ? [call.caller] : [])));
    // checkRollout only runs when an event is lost; its grants are a subset of waitForRollout's.
    expect([...callers].sort()).toEqual(
      Object.keys(permissionsFor('/gantry'))
        .filter((key) => key !== 'checkRollout')
        .sort(),
    );
  });

  it('grants no action a function never calls', () => {
    // Authorised as part of another call, never called directly.
    const implicit = new Set(['ecs:TagResource', 'iam:PassRole']);
    const unused = Object.entries(permissionsFor('/gantry'))
      .filter(([key]) => key !== 'checkRollout')
      .flatMap(([key, statements]) =>
        statements
          .flatMap((statement) => statement.Action)
          .filter((action) => !implicit.has(action))
          .filter(
            (action) =>
              !sandbox.emulator.calls.some(
                (call) => call.caller === key && `${iamPrefix[call.service]}:${call.operation}` === action,
              ),
          )
          .map((action) => `${key}: ${action}`),
      );
    // Grants for paths this run does not take; each is exercised by the unit tests named here.
    const conditional = [
      // ecs-rollout.test.ts "settles at once if the deployment is already COMPLETED"
      'waitForRollout: ssm:DeleteParameter',
      'waitForRollout: states:SendTaskSuccess',
      'waitForRollout: states:SendTaskFailure',
      // ecs-rollout.test.ts: stopped tasks counted when the token is parked
      'waitForRollout: ecs:DescribeTasks',
      // ecs-rollout.test.ts "parks the token again when resuming fails transiently"
      'onEcsEvent: ssm:PutParameter',
    ];
    expect(unused.sort()).toEqual(conditional.sort());
  });

  it("allows every call a function made through that function's own role", () => {
    const roles = permissionsFor('/gantry');
    const denied = sandbox.emulator.calls
      .filter((call) => call.caller !== undefined)
      .filter((call) => !allowed(call, roles[call.caller ?? ''] ?? []))
      .map(
        (call) => `${call.caller}: ${iamPrefix[call.service]}:${call.operation} ${parameterArn(call) ?? ''}`,
      );
    expect([...new Set(denied)]).toEqual([]);
  });
});
