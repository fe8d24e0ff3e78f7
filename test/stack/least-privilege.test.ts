import { createRequire } from 'node:module';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asCaller } from '../../sandbox/caller.ts';
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
};

/**
 * Not circular: the roles come from functions/permissions.cjs, the calls from running the real
 * handlers through the sandbox, each stamped with the function that made it and checked, as it is
 * made, against that function's role with the resource and conditions AWS authorizes it against
 * (sandbox/authorization.ts). A call the role does not allow fails there as it would on AWS.
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
    await sandbox.push({ repository: 'web', tag: 'v1.1.0', scenario: 'crashLoop' });
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
    const denied = sandbox.emulator.calls
      .filter((call) => call.error === 'AccessDeniedException')
      .map((call) => `${call.caller}: ${iamPrefix[call.service]}:${call.operation}`);
    expect([...new Set(denied)]).toEqual([]);
  });

  it("refuses a call the function's role does not allow, as AWS does", async () => {
    // Prepare: rollback may update services, never read Parameter Store.
    const ssm = new SSMClient(sandbox.emulator.clientConfig);

    // Act
    const reading = asCaller('rollback', () =>
      ssm.send(new GetParameterCommand({ Name: '/gantry/web/prod/config' })),
    );

    // Assess
    await expect(reading).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringMatching(
        /assumed-role\/gantry-sandbox-RollbackRole\/.* is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:eu-west-1:123456789012:parameter\/gantry\/web\/prod\/config/,
      ),
    });
  });
});
