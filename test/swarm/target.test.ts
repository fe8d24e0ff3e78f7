import { ECSClient } from '@aws-sdk/client-ecs';
import { GetInstancesCommand, LightsailClient } from '@aws-sdk/client-lightsail';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOnSwarmEventHandler } from '../../functions/handlers/on-swarm-event.ts';
import type { DeployConfig } from '../../functions/src/config/schema.ts';
import { registerRolloutWait } from '../../functions/src/coordination/waits.ts';
import type { DeployPlan } from '../../functions/src/deploy-plan.ts';
import type { DeployState } from '../../functions/src/deploy-state.ts';
import { swarmParameters } from '../../functions/src/swarm/contract.ts';
import { judgeSwarmVerdict, parseSwarmRevision, swarmRevision } from '../../functions/src/targets/swarm.ts';
import { type TargetClients, type TargetDeployment, targetFor } from '../../functions/src/targets/target.ts';
import { lambdaContext } from '../../sandbox/runner.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';
import { executionArn, goodImage, newImage, reportOf, serviceReport, target } from './fixtures.ts';

const sqsMock = mockClient(SQSClient);
const lightsailMock = mockClient(LightsailClient);
const sfnMock = mockClient(SFNClient);
const names = swarmParameters('/gantry', 'shop', 'prod');
const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/123456789012/gantry-swarm-shop-prod';

const config: DeployConfig = {
  repository: 'shop',
  target,
  health: { timeoutSeconds: 600, maxFailedTasks: 2 },
  rollbackAlarms: [],
};
const live = { image: goodImage, digest: `sha256:${'a'.repeat(64)}`, revision: swarmRevision(goodImage, 3) };

function planOf(overrides: Partial<DeployPlan> = {}): DeployPlan {
  return {
    app: 'shop',
    env: 'prod',
    executionArn,
    requestedAt: '2026-12-03T12:00:00Z',
    source: 'ecr-push',
    mode: 'deploy',
    config,
    desired: { image: newImage, digest: `sha256:${'b'.repeat(64)}` },
    live,
    livePrevious: null,
    ...overrides,
  };
}

let ssm: ReturnType<typeof fakeParameterStore>;
let clients: TargetClients;

beforeEach(() => {
  ssm = fakeParameterStore();
  sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: queueUrl });
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  clients = {
    ecs: new ECSClient({ region: 'eu-west-1' }),
    ssm: ssm.client,
    sqs: new SQSClient({ region: 'eu-west-1' }),
    lightsail: new LightsailClient({ region: 'eu-west-1' }),
    parameterPrefix: '/gantry',
  };
});

afterEach(() => {
  ssm.mock.reset();
  sqsMock.reset();
  lightsailMock.reset();
  sfnMock.reset();
});

const swarm = () => targetFor(config, clients, { app: 'shop', env: 'prod' });

/** The order Gantry wrote last, as the agent would read it. */
function writtenOrder(): { deploymentId: string; kind: string; force: boolean; services: unknown[] } {
  return ssm.json(names.order) as never;
}

describe('the swarm target', () => {
  describe('revision', () => {
    it('names the pinned image and the environment version, and reads back what it wrote', () => {
      // Act / Assess
      expect(swarmRevision(newImage)).toBe(newImage);
      expect(parseSwarmRevision(swarmRevision(newImage, 12))).toEqual({
        image: newImage,
        environmentVersion: 12,
      });
      expect(parseSwarmRevision(newImage)).toEqual({ image: newImage });
    });

    it('keeps a revision whose version is not a positive integer whole, as an image', () => {
      // Act / Assess
      for (const version of ['0', 'x', '1.5', '']) {
        expect(parseSwarmRevision(`${newImage}+env.${version}`)).toEqual({
          image: `${newImage}+env.${version}`,
        });
      }
    });
  });

  describe('preview (gantry plan)', () => {
    it("diffs the services' images now against the order's, with reads only", async () => {
      // Prepare: the agent last reported every service on the good image, and nothing is running.
      ssm.put(names.status, reportOf('completed', {}, goodImage));

      // Act
      const preview = await swarm().preview(planOf());

      // Assess
      expect(preview.before).toEqual([
        { name: 'shop_web', image: goodImage },
        { name: 'shop_worker', image: goodImage },
      ]);
      expect(preview.after).toEqual([
        { name: 'shop_web', image: newImage },
        { name: 'shop_worker', image: newImage },
      ]);
      expect(preview.change).toBe(
        `PutParameter ${names.order} (the order), then SendMessage to gantry-swarm-shop-prod (the wake-up)`,
      );
      expect(preview.checks.map((check) => check.status)).toEqual(['ok', 'ok']);
      expect(ssm.parameters.has(names.order)).toBe(false);
      expect(sqsMock.calls()).toHaveLength(0);
    });

    it('warns when the agent never reported, or a rollout is still running', async () => {
      // Act
      const silent = await swarm().preview(planOf());
      ssm.put(names.status, reportOf('updating', { deploymentId: 'deploy-in-flight' }));
      const busy = await swarm().preview(planOf());

      // Assess
      expect(silent.before).toEqual([
        { name: 'shop_web', image: 'unknown' },
        { name: 'shop_worker', image: 'unknown' },
      ]);
      expect(silent.checks[0]).toEqual({
        check: 'agent report',
        status: 'warn',
        detail: 'no status parameter yet: the agent never reported',
      });
      expect(busy.checks[1]).toEqual({
        check: 'swarm idle',
        status: 'warn',
        detail: 'deployment deploy-in-flight is still updating',
      });
    });
  });

  describe('readLive', () => {
    it('says what the agent last saw running, and the rollout in progress', async () => {
      // Prepare
      ssm.put(names.status, reportOf('updating', { deploymentId: 'deploy-in-flight' }));
      // Act
      const live = await swarm().readLive();
      // Assess
      expect(live).toEqual({ revision: newImage, deploymentInProgress: 'deploy-in-flight' });
    });

    it('lists every image when the services disagree, and needs the app/env to know where to look', async () => {
      // Prepare
      ssm.put(
        names.status,
        reportOf('completed', {
          services: [serviceReport('shop_web', goodImage), serviceReport('shop_worker', newImage)],
        }),
      );
      // Act
      const live = await swarm().readLive();
      // Assess
      expect(live).toEqual({ revision: `${goodImage}, ${newImage}` });
      await expect(targetFor(config, clients).readLive()).rejects.toThrow(
        'a swarm target needs the app and environment',
      );
    });

    it('says unknown when the agent never reported, and names no rollout once it ended', async () => {
      // Act
      const before = await swarm().readLive();
      ssm.put(names.status, reportOf('completed', {}, goodImage));
      const after = await swarm().readLive();
      // Assess
      expect(before).toEqual({ revision: 'unknown' });
      expect(after).toEqual({ revision: goodImage });
    });
  });

  describe('requireDeployable', () => {
    it('refuses with SwarmInstancesNotRunning when a tagged host is stopped', async () => {
      // Prepare
      lightsailMock.on(GetInstancesCommand).resolves({
        instances: [
          {
            name: 'manager-1',
            state: { name: 'stopped' },
            tags: [{ key: 'gantry:swarm', value: 'shop-prod' }],
          },
        ],
      });
      // Act / Assess
      await expect(swarm().requireDeployable()).rejects.toMatchObject({ name: 'SwarmInstancesNotRunning' });
    });
  });

  describe('deploy', () => {
    it('orders every service on the pinned image with the environment version, then wakes the agent', async () => {
      // Prepare
      ssm.put(names.environment, { LOG_LEVEL: 'info' });
      ssm.put(names.environment, { LOG_LEVEL: 'debug' });
      // Act
      const deployment = await swarm().deploy(planOf());
      // Assess
      const order = writtenOrder();
      expect(order).toMatchObject({
        kind: 'deploy',
        environmentVersion: 2,
        services: [
          { name: 'shop_web', image: newImage },
          { name: 'shop_worker', image: newImage },
        ],
      });
      expect(deployment).toEqual({
        target: 'swarm',
        deploymentId: order.deploymentId,
        revision: `${newImage}+env.2`,
        previousRevision: live.revision,
        appEnv: { app: 'shop', env: 'prod' },
      });
      expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(1);
    });

    it('writes the same order when the step is retried', async () => {
      // Prepare
      await swarm().deploy(planOf());
      const first = ssm.parameters.get(names.order)?.value;
      // Act
      await swarm().deploy(planOf());
      // Assess
      expect(ssm.parameters.get(names.order)?.value).toBe(first);
    });

    it('orders the image from the registry the target names', async () => {
      // Prepare
      const local = { ...config, target: { ...target, registry: '127.0.0.1:5000' } };
      // Act
      const deployment = await targetFor(local, clients).deploy(planOf({ config: local }));
      // Assess
      expect(parseSwarmRevision(deployment.revision).image).toBe(
        `127.0.0.1:5000/shop@sha256:${'b'.repeat(64)}`,
      );
    });

    it('redeploys the recorded revision, environment version included, for a requested rollback', async () => {
      // Act
      await swarm().deploy(planOf({ mode: 'rollback', desired: { ...live } }));
      // Assess
      expect(writtenOrder()).toMatchObject({
        environmentVersion: 3,
        services: [{ image: goodImage }, { image: goodImage }],
      });
    });
  });

  describe('judgeRollout', () => {
    it('is pending while the agent reports the order updating, and RolloutTimedOut once the deadline passed', async () => {
      // Prepare
      const deployment = await swarm().deploy(planOf());
      ssm.put(names.status, reportOf('updating', { deploymentId: deployment.deploymentId }));
      // Act
      const before = await swarm().judgeRollout(deployment, { deadlinePassed: false });
      const after = await swarm().judgeRollout(deployment, { deadlinePassed: true });
      // Assess
      expect(before).toEqual({ outcome: 'pending' });
      expect(after).toMatchObject({
        outcome: 'failed',
        error: 'RolloutTimedOut',
        message:
          'the swarm rollout did not end within the health timeout: still updating when the deploy timed out',
      });
    });

    it('completes from the status parameter when the event was lost', async () => {
      // Prepare
      const deployment = await swarm().deploy(planOf());
      ssm.put(names.status, reportOf('completed', { deploymentId: deployment.deploymentId }));
      // Act
      const verdict = await swarm().judgeRollout(deployment, { deadlinePassed: true });
      // Assess
      expect(verdict).toEqual({ outcome: 'completed', deploymentId: deployment.deploymentId });
    });
  });

  describe('rollBack', () => {
    async function failedState(report: ReturnType<typeof reportOf>): Promise<DeployState> {
      const deployment = await swarm().deploy(planOf());
      ssm.put(names.status, { ...report, deploymentId: deployment.deploymentId });
      const verdict = await swarm().judgeRollout(deployment, { deadlinePassed: false });
      if (verdict.outcome !== 'failed') throw new Error(`expected a failed verdict, got ${verdict.outcome}`);
      const { outcome: _, error, ...details } = verdict;
      return { plan: planOf(), deployment, failure: { Error: error, Cause: JSON.stringify(details) } };
    }

    it('follows Swarm’s own rollback and orders nothing more when every service is back on last-good', async () => {
      // Prepare
      const state = await failedState(reportOf('rollback_completed', { reason: 'task exited 1' }, goodImage));
      const orders = ssm.parameters.get(names.order)?.version;
      // Act
      const rollback = await swarm().rollBack(state);
      const verdict = await swarm().judgeRollout(rollback, { deadlinePassed: false });
      // Assess
      expect(ssm.parameters.get(names.order)?.version).toBe(orders);
      expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(1);
      expect(rollback.revision).toBe(live.revision);
      expect(verdict.outcome).toBe('completed');
    });

    it('orders last-good for every service when one service failed (all or nothing)', async () => {
      // Prepare
      const state = await failedState(
        reportOf('failed', {
          services: [
            serviceReport('shop_web', newImage),
            serviceReport('shop_worker', goodImage, { updateState: 'paused' }),
          ],
        }),
      );
      // Act
      const rollback = await swarm().rollBack(state);
      // Assess
      expect(writtenOrder()).toMatchObject({
        kind: 'rollback',
        force: false,
        environmentVersion: 3,
        deploymentId: rollback.deploymentId,
        services: [{ image: goodImage }, { image: goodImage }],
      });
    });

    it('forces the rollback once when Swarm’s rollback paused, then ends RollbackFailed', async () => {
      // Prepare
      const state = await failedState(reportOf('rollback_paused', { reason: 'rollback paused' }, goodImage));
      // Act
      const forced = await swarm().rollBack(state);
      ssm.put(names.status, reportOf('rollback_paused', { deploymentId: forced.deploymentId }, goodImage));
      const again = await swarm().judgeRollout(forced, { deadlinePassed: false });
      // Assess
      expect(writtenOrder()).toMatchObject({ kind: 'rollback', force: true });
      expect(again).toMatchObject({ outcome: 'failed', error: 'RollbackFailed' });
    });

    it('asks for one forced retry when its own rollback order paused', async () => {
      // Prepare
      const state = await failedState(reportOf('failed', {}, newImage));
      const plain = await swarm().rollBack(state);
      ssm.put(names.status, reportOf('rollback_paused', { deploymentId: plain.deploymentId }, goodImage));
      const paused = await swarm().judgeRollout(plain, { deadlinePassed: false });
      if (paused.outcome !== 'failed') throw new Error('expected the rollback to pause');
      // Act
      const forced = await swarm().rollBack({
        ...state,
        rollback: plain,
        rollbackPaused: { Error: paused.error, Cause: JSON.stringify({ message: paused.message }) },
      });
      // Assess
      expect(paused.error).toBe('RollbackPaused');
      expect(forced.deploymentId).not.toBe(plain.deploymentId);
      expect(writtenOrder()).toMatchObject({
        kind: 'rollback',
        force: true,
        deploymentId: forced.deploymentId,
      });
    });
  });
});

describe('the swarm target, in detail', () => {
  it('is of type swarm, and a deploy without an environment parameter pins no environment version', async () => {
    // Act
    const deployment = await swarm().deploy(planOf());
    // Assess
    expect(swarm().type).toBe('swarm');
    expect(deployment.target).toBe('swarm');
    expect(writtenOrder()).not.toHaveProperty('environmentVersion');
    expect(deployment.revision).toBe(newImage);
  });

  it('takes a first deploy’s rollback target from what the agent saw running, when every service runs one image', async () => {
    // Prepare
    ssm.put(names.status, reportOf('completed', { deploymentId: 'deploy-earlier' }, goodImage));
    // Act
    const deployment = await swarm().deploy(planOf({ live: null }));
    // Assess
    expect(deployment).toMatchObject({ previousRevision: goodImage, previousImage: goodImage });
  });

  it('names no previous image when the services run different images or nothing was reported', async () => {
    // Prepare
    const mixed = reportOf('completed', {
      deploymentId: 'deploy-earlier',
      services: [serviceReport('shop_web', goodImage), serviceReport('shop_worker', newImage)],
    });
    // Act
    const unreported = await swarm().deploy(planOf({ live: null }));
    ssm.put(names.status, mixed);
    const disagreeing = await swarm().deploy(planOf({ live: null }));
    ssm.put(names.status, 'not json');
    const unreadable = await swarm().deploy(planOf({ live: null }));
    // Assess
    for (const deployment of [unreported, disagreeing, unreadable]) {
      expect(deployment.previousRevision).toBe('none');
      expect(deployment).not.toHaveProperty('previousImage');
    }
  });

  it('follows Swarm’s rollback under an id of its own, naming the deployment it follows', async () => {
    // Prepare
    const deployment = await swarm().deploy(planOf());
    ssm.put(
      names.status,
      reportOf(
        'rollback_completed',
        { deploymentId: deployment.deploymentId, reason: 'task exited 1' },
        goodImage,
      ),
    );
    const verdict = await swarm().judgeRollout(deployment, { deadlinePassed: false });
    if (verdict.outcome !== 'failed') throw new Error('expected a failed verdict');
    const { outcome: _, error, ...details } = verdict;
    // Act
    const rollback = await swarm().rollBack({
      plan: planOf(),
      deployment,
      failure: { Error: error, Cause: JSON.stringify(details) },
    });
    // Assess
    expect(verdict.message).toBe('Swarm rolled the update back: task exited 1');
    expect(rollback).toEqual({
      target: 'swarm',
      deploymentId: `followed-${deployment.deploymentId}`,
      revision: live.revision,
      previousRevision: deployment.revision,
      appEnv: { app: 'shop', env: 'prod' },
    });
  });

  it('orders last-good after a timeout, whose failure carries no verdict', async () => {
    // Prepare
    const deployment = await swarm().deploy(planOf());
    // Act
    const rollback = await swarm().rollBack({
      plan: planOf(),
      deployment,
      failure: { Error: 'RolloutTimedOut', Cause: JSON.stringify({ message: 'no end in time' }) },
    });
    // Assess
    expect(rollback).toMatchObject({
      target: 'swarm',
      revision: live.revision,
      previousRevision: deployment.revision,
    });
    expect(writtenOrder()).toMatchObject({ kind: 'rollback', deploymentId: rollback.deploymentId });
  });

  it('refuses to roll back with NoPreviousRelease when neither a release nor a running image is known', async () => {
    // Prepare
    const deployment = await swarm().deploy(planOf({ live: null }));
    // Act / Assess
    await expect(
      swarm().rollBack({ plan: planOf({ live: null }), deployment, failure: { Error: 'RolloutTimedOut' } }),
    ).rejects.toMatchObject({ name: 'NoPreviousRelease' });
  });

  it('words a failed deploy from the agent’s reason, and a failed rollback with every service’s tasks', () => {
    // Prepare
    const forensics = [
      serviceReport('shop_web', goodImage, {
        updateState: 'rollback_paused',
        failedTasks: [{ taskId: 't1', state: 'failed', exitCode: 4 }],
      }),
    ];
    // Act
    const deploy = judgeSwarmVerdict('deploy-1', {
      status: 'failed',
      state: 'paused',
      changed: true,
      reason: 'paused',
      forensics,
    });
    const plain = judgeSwarmVerdict('rollback-1', {
      status: 'rollback_paused',
      reason: 'stuck',
      forensics: [],
    });
    const forced = judgeSwarmVerdict('rollback-forced-1', {
      status: 'rollback_paused',
      reason: 'stuck',
      forensics,
    });
    // Assess
    expect(deploy).toMatchObject({ error: 'RolloutFailed', message: 'paused' });
    expect(plain).toMatchObject({
      error: 'RollbackPaused',
      message: 'putting the last good release back ended rollback_paused: stuck',
    });
    expect(forced).toMatchObject({
      error: 'RollbackFailed',
      message: `putting the last good release back ended rollback_paused (forced): stuck; shop_web: rollback_paused, runs ${goodImage}; failed tasks t1 failed exit 4`,
    });
  });
});

describe('onSwarmEvent', () => {
  let table: ReturnType<typeof fakeCoordinationTable>;
  let deployment: TargetDeployment;
  const deps = () => ({
    table: table.table,
    sfn: new SFNClient({ region: 'eu-west-1' }),
    now: () => new Date('2026-12-03T12:00:00Z'),
  });

  beforeEach(async () => {
    table = fakeCoordinationTable();
    sfnMock.on(SendTaskSuccessCommand).resolves({});
    sfnMock.on(SendTaskFailureCommand).resolves({});
    deployment = await swarm().deploy(planOf());
    const wait = {
      ...swarm().parkedDetails(deployment),
      taskToken: 'token-1',
      deploymentId: deployment.deploymentId,
    };
    await registerRolloutWait(deps(), wait, async () => ({ outcome: 'pending' as const }));
  });

  afterEach(() => table.mock.reset());

  const eventOf = (detail: unknown) => ({
    version: '0',
    id: 'e-1',
    source: 'gantry.agent',
    'detail-type': 'Swarm Rollout State Change',
    account: '123456789012',
    time: '2026-12-03T12:01:00Z',
    region: 'eu-west-1',
    resources: [],
    detail,
  });

  it('resumes the parked execution once when the agent reports the order completed', async () => {
    // Prepare
    const handler = createOnSwarmEventHandler(deps());
    const event = eventOf(reportOf('completed', { deploymentId: deployment.deploymentId }));
    // Act
    const first = await handler(event, lambdaContext('onSwarmEvent'));
    const redelivered = await handler(event, lambdaContext('onSwarmEvent'));
    // Assess
    expect(first).toMatchObject({ action: 'resumed', outcome: 'completed' });
    expect(redelivered).toMatchObject({ action: 'ignored' });
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('fails the execution with the verdict when Swarm rolled the update back', async () => {
    // Prepare
    const handler = createOnSwarmEventHandler(deps());
    // Act
    const outcome = await handler(
      eventOf(reportOf('rollback_completed', { deploymentId: deployment.deploymentId }, goodImage)),
      lambdaContext('onSwarmEvent'),
    );
    // Assess
    expect(outcome).toMatchObject({ action: 'resumed', outcome: 'failed', error: 'RolloutFailed' });
    const cause = JSON.parse(sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input.cause ?? '{}');
    expect(cause.swarm).toMatchObject({ status: 'rolled_back_by_swarm' });
  });

  it('ignores, with why, a report for a deployment nobody waits on, a phase in progress and a malformed one', async () => {
    // Prepare
    const handler = createOnSwarmEventHandler(deps());
    // Act
    const unknown = await handler(
      eventOf(reportOf('completed', { deploymentId: 'deploy-unknown' })),
      lambdaContext('x'),
    );
    const updating = await handler(
      eventOf(reportOf('updating', { deploymentId: deployment.deploymentId })),
      lambdaContext('x'),
    );
    const malformed = await handler(
      eventOf({ deploymentId: deployment.deploymentId, state: 'nonsense' }),
      lambdaContext('x'),
    );
    // Assess
    expect(unknown).toEqual({ action: 'ignored', why: 'no execution waits on deployment deploy-unknown' });
    expect(updating).toEqual({
      action: 'ignored',
      why: `deployment ${deployment.deploymentId} is still updating`,
    });
    expect(malformed).toMatchObject({ action: 'ignored', why: expect.stringContaining('malformed report') });
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('refuses an event that is not from the agent with InputInvalid', async () => {
    // Prepare
    const handler = createOnSwarmEventHandler(deps());
    // Act / Assess
    await expect(handler({ ...eventOf({}), source: 'aws.ecs' }, lambdaContext('x'))).rejects.toMatchObject({
      name: 'InputInvalid',
    });
  });
});
