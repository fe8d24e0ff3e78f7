import { createRequire } from 'node:module';
import {
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAllowed } from '../../sandbox/authorization.ts';
import { asCaller } from '../../sandbox/caller.ts';
import type { CallRecord } from '../../sandbox/emulator/index.ts';
import { stackRoles } from '../../sandbox/iam.ts';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';
import { stagedConfiguration } from '../../sandbox/scenarios.ts';
import { driftBehindGantry } from '../support/drift.ts';

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
  dynamodb: 'dynamodb',
  lightsail: 'lightsail',
  sqs: 'sqs',
  cloudwatch: 'cloudwatch',
};

/**
 * Not circular: the roles come from functions/permissions.cjs, the calls from running the real
 * handlers through the sandbox, each stamped with the function that made it and checked, as it is
 * made, against that function's role with the resource and conditions AWS authorizes it against
 * (sandbox/authorization.ts). A call the role does not allow fails there as it would on AWS.
 */
describe('least privilege (sandbox)', () => {
  let sandbox: Sandbox;

  /**
   * `<app>/qa` written through the API, as `gantry config put` writes it, tracking repository
   * `<app>` and listing no alarm: a copy of web/prod's alarm would put web-prod-5xx in the alarm
   * index with this app/environment alone (web/prod is seeded without a change event), and the
   * alarm below would route through that entry instead of the never-seen alarm's scan.
   */
  const putConfigThroughApi = (app: string) =>
    new SSMClient(sandbox.emulator.clientConfig).send(
      new PutParameterCommand({
        Name: `/gantry/${app}/qa/config`,
        Value: JSON.stringify({
          ...JSON.parse(sandbox.emulator.ssm.get('/gantry/web/prod/config') ?? '{}'),
          repository: app,
          rollbackAlarms: [],
        }),
        Type: 'String',
      }),
    );

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
    // A config written through the API, as `gantry config put` writes it: its change event puts
    // worker/qa into the repository index (onConfigChanged). No push here names its repository.
    await putConfigThroughApi('worker');
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
      // Now on the simulated clock: an alarm older than the live release starts nothing.
      time: new Date(sandbox.emulator.clock.now()).toISOString(),
      region,
      resources: [],
      detail: { alarmName: 'web-prod-5xx', state: { value: 'ALARM', reason: 'threshold crossed' } },
    });
    await sandbox.idle();
    // A push whose event was lost, and a service changed behind Gantry's back, caught by the
    // reconciler's scheduled run.
    sandbox.seedApp({ app: 'shop', env: 'prod', repository: 'shop' });
    await sandbox.elapse(1);
    await sandbox.push({ repository: 'shop', tag: 'v1.0.0' });
    await sandbox.idle();
    await driftBehindGantry(sandbox, 'shop');
    sandbox.emulator.ecr.putImage({ repository: 'web', tag: 'v1.5.0' });
    // A config whose change event is lost: the reconciler's index rebuild writes its entry.
    const dropChanges = sandbox.emulator.events.dropWhen(
      (event) => event['detail-type'] === 'Parameter Store Change',
    );
    await putConfigThroughApi('cron');
    // The event is delivered on the clock's next tick: stop dropping only once it has been.
    await sandbox.idle();
    dropChanges();
    await sandbox.elapse(1);
    await sandbox.runSchedule('reconcile');
    await sandbox.idle();
    // A gated canary whose first gate finds its alarm in ALARM (decideGate answers ROLLBACK), then
    // a rollback requested while a second one bakes (delivered to it: StopServiceDeployment).
    sandbox.seedApp({
      app: 'api',
      env: 'prod',
      repository: 'api',
      deploymentConfiguration: stagedConfiguration({ strategy: 'CANARY', bakeTimeInMinutes: 30 }),
      config: { gates: { alarms: ['api-prod-5xx'] } },
    });
    sandbox.emulator.cloudwatch.setAlarm('api-prod-5xx', 'ALARM');
    await sandbox.push({ repository: 'api', tag: 'v1.0.0' });
    await sandbox.idle();
    sandbox.emulator.cloudwatch.setAlarm('api-prod-5xx', 'OK');
    await sandbox.push({ repository: 'api', tag: 'v1.1.0' });
    await sandbox.elapse(900);
    await sandbox.bus.publish(
      {
        version: '0',
        id: '0c9e1b2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d',
        'detail-type': 'Rollback Requested',
        source: 'gantry',
        account,
        time: new Date(sandbox.emulator.clock.now()).toISOString(),
        region,
        resources: [],
        detail: { app: 'api', env: 'prod', reason: 'latency' },
      },
      sandbox.gantryBus,
    );
    await sandbox.idle();
    // A swarm behind a Lightsail load balancer: a release through the health gate, then one the
    // gate fails (an instance turns unhealthy), which Gantry rolls back by ordering last-good.
    await sandbox.seedSwarmApp({
      app: 'kiosk',
      env: 'prod',
      repository: 'kiosk',
      loadBalancer: { bakeSeconds: 60 },
    });
    await sandbox.push({ repository: 'kiosk', tag: 'v1.0.0', swarmScenario: 'healthy' });
    await sandbox.idle();
    sandbox.emulator.lightsail.setInstanceHealth('kiosk-prod-lb', 'kiosk-prod-manager', 'unhealthy');
    await sandbox.push({ repository: 'kiosk', tag: 'v1.1.0', swarmScenario: 'healthy' });
    await sandbox.idle();
    // And a crash loop Swarm rolls back itself: the agent's event fails the wait.
    sandbox.emulator.lightsail.setInstanceHealth('kiosk-prod-lb', 'kiosk-prod-manager', 'healthy');
    await sandbox.push({
      repository: 'kiosk',
      tag: 'v1.2.0',
      swarmScenario: { kind: 'crashLoop', exitCode: 3 },
    });
    await sandbox.idle();
  }, 150_000);
  afterAll(async () => {
    await sandbox.close();
  });

  it('made its calls from every function it has a role for', () => {
    const callers = new Set(sandbox.emulator.calls.flatMap((call) => (call.caller ? [call.caller] : [])));
    // checkRollout runs when an event is lost or a staged deployment's step outlasts its timer,
    // which depends on timing; its grants are a subset of waitForRollout's.
    expect([...callers].filter((caller) => caller !== 'checkRollout').sort()).toEqual(
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
    // Grants for paths this run may not take; each is exercised by the unit tests named here.
    const conditional = [
      // ecs-rollout.test.ts "settles at once if the deployment is already COMPLETED"
      'waitForRollout: states:SendTaskSuccess',
      // ecs-rollout.test.ts "parks the token again when resuming fails transiently"
      'onEcsEvent: dynamodb:PutItem',
      // lock.test.ts "clears its own waiter item once it holds the lock"
      'acquireLock: dynamodb:DeleteItem',
      // lock.test.ts "lets go of a free lock it took and wakes the newer request parked for it"
      'acquireLock: states:SendTaskSuccess',
      // lock.test.ts "replaces an older waiter…", "wakes itself when the holder let go…"
      'waitForLock: dynamodb:DeleteItem',
      'waitForLock: states:SendTaskSuccess',
      // lock.test.ts "frees the lock of a holder that was aborted and wakes the waiter"
      'onExecutionEnded: states:SendTaskSuccess',
      // coordination-waits.test.ts "parks the token again when resuming fails transiently"
      'onRollbackRequested: dynamodb:PutItem',
      // ecs-gates.test.ts "answers ROLLBACK when tasks of the new revision stopped"
      'decideGate: ecs:DescribeTasks',
      // deploy-plan.test.ts "goes back to any release of the history it is given \"to\"";
      // test/cli/cli.test.ts "goes back to any release of the history with --to"
      'resolveConfig: dynamodb:Query',
      // A swarm rollout settled by waitForRollout's first look leaves onSwarmEvent's grants unused
      // (test/swarm/target.test.ts "onSwarmEvent" covers them).
      'onSwarmEvent: dynamodb:PutItem',
    ];
    // The crash loop is settled by whichever looks first, waitForRollout's own look or onEcsEvent
    // (ecs-rollout.test.ts covers both): that depends on real timing, so either set may go unused.
    const settledByEither = new Set([
      'onEcsEvent: states:SendTaskFailure',
      'waitForRollout: dynamodb:DeleteItem',
      'waitForRollout: ecs:DescribeTasks',
      'waitForRollout: states:SendTaskFailure',
      // The same race for the swarm's crash loop: the agent's event, or waitForRollout's first look.
      'onSwarmEvent: states:SendTaskFailure',
    ]);
    // Every grant this run left unused must be one of the paths named above: which of them a run
    // takes depends on timing, so they may be used or not, but no other grant may go unused.
    expect(unused.filter((grant) => !settledByEither.has(grant) && !conditional.includes(grant))).toEqual([]);
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

  describe('nothing escalates', () => {
    it('refuses to change or read a service not tagged gantry:managed, to every role but ResolveConfig', async () => {
      // Prepare
      const { cluster, service } = sandbox.seedApp({
        app: 'foreign',
        env: 'prod',
        repository: 'foreign',
        managed: false,
      });
      const ecs = new ECSClient(sandbox.emulator.clientConfig);
      const update = new UpdateServiceCommand({ cluster, service, forceNewDeployment: true });
      const describe_ = new DescribeServicesCommand({ cluster, services: [service] });

      // Act, Assess
      for (const role of ['deployEcs', 'rollback']) {
        await expect(asCaller(role, () => ecs.send(update))).rejects.toThrow(
          /not authorized to perform: ecs:UpdateService/,
        );
      }
      for (const role of ['waitForRollout', 'onEcsEvent', 'checkRollout']) {
        await expect(asCaller(role, () => ecs.send(describe_))).rejects.toThrow(/ecs:DescribeServices/);
      }
      await expect(asCaller('resolveConfig', () => ecs.send(describe_))).resolves.toMatchObject({
        services: [expect.objectContaining({ serviceName: service })],
      });
    });

    it("refuses to pass a role outside the stack parameters' patterns", async () => {
      // Prepare
      const ecs = new ECSClient(sandbox.emulator.clientConfig);
      const register = (roleName: string) =>
        new RegisterTaskDefinitionCommand({
          family: 'escalate',
          taskRoleArn: `arn:aws:iam::${account}:role/${roleName}`,
          containerDefinitions: [{ name: 'app', image: 'web:v1', essential: true, memory: 128 }],
        });

      // Act, Assess
      await expect(asCaller('deployEcs', () => ecs.send(register('admin')))).rejects.toThrow(
        /not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role\/admin/,
      );
      await expect(asCaller('deployEcs', () => ecs.send(register('web-task')))).resolves.toBeDefined();
    });

    it('grants task callbacks on the deploy state machine only', () => {
      // Prepare
      const roles = stackRoles({
        region,
        account,
        stackName: 'gantry-sandbox',
        stateMachineArn: `arn:aws:states:${region}:${account}:stateMachine:gantry-sandbox-deploy`,
        parameterPrefix: '/gantry',
        coordinationTable: 'gantry-sandbox-coordination',
      });
      const callback = (machine: string) => ({
        action: 'states:SendTaskSuccess',
        resource: `arn:aws:states:${region}:${account}:stateMachine:${machine}`,
        context: {},
      });

      // Act, Assess
      for (const role of ['waitForRollout', 'onEcsEvent']) {
        expect(isAllowed(roles[role] ?? [], callback('gantry-sandbox-deploy'))).toBe(true);
        expect(isAllowed(roles[role] ?? [], callback('payments-release'))).toBe(false);
      }
    });

    it('lets RecordOutcome announce only with its own source', async () => {
      // Prepare
      const events = new EventBridgeClient(sandbox.emulator.clientConfig);
      const put = (Source: string) =>
        new PutEventsCommand({ Entries: [{ Source, DetailType: 'Release Succeeded', Detail: '{}' }] });

      // Act, Assess
      await expect(asCaller('recordOutcome', () => events.send(put('aws.ecr')))).rejects.toThrow(
        /events:PutEvents on resource: arn:aws:events:eu-west-1:123456789012:event-bus\/default/,
      );
      await expect(asCaller('recordOutcome', () => events.send(put('gantry')))).resolves.toBeDefined();
    });
  });
});
