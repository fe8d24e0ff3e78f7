import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appEnvPartition, keyOf } from '../../functions/src/coordination/table.ts';
import {
  checkDrift,
  type DriftDependencies,
  driftOf,
  type RunningRelease,
} from '../../functions/src/reconcile/drift.ts';
import type { AppEnvState } from '../../functions/src/reconcile/fleet.ts';
import type { ReleaseRecord } from '../../functions/src/release.ts';
import { executionName } from '../../functions/src/start-deploy.ts';
import { story, webConfig } from '../support/aws-fixtures.ts';
import { answerStartExecution } from '../support/sfn-mock.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const releaseName = '/gantry/web/prod/release';
const handMade = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:43';
const now = '2025-06-03T11:00:00Z';

const live: ReleaseRecord = {
  kind: 'release',
  image: `${story.registry}/web@${story.digest}`,
  digest: story.digest,
  tag: 'v1.4.2',
  revision: story.taskDefinitionArn,
  at: '2025-06-03T10:19:30.000Z',
  executionArn: story.executionArn,
  requestedAt: '2025-06-03T10:15:01Z',
  previous: null,
};

const sfnMock = mockClient(SFNClient);
const eventsMock = mockClient(EventBridgeClient);
let ssm: ReturnType<typeof fakeParameterStore>;
let coordination: ReturnType<typeof fakeCoordinationTable>;
let running: RunningRelease;

function deps(): DriftDependencies {
  return {
    ssm: ssm.client,
    sfn: new SFNClient({ region: 'eu-west-1' }),
    table: coordination.table,
    events: new EventBridgeClient({ region: 'eu-west-1' }),
    parameterPrefix: '/gantry',
    stateMachineArn,
    eventBusName: 'default',
    // As a target's readLive: the image only when asked for.
    readRunning: async (_appEnv, options) => {
      const { image, ...revisionOnly } = running;
      return options?.withImage ? running : revisionOnly;
    },
  };
}

const appEnv = (overrides: Partial<AppEnvState> = {}): AppEnvState => ({
  app: 'web',
  env: 'prod',
  config: webConfig,
  configModifiedAt: 0,
  release: live,
  ...overrides,
});

beforeEach(() => {
  ssm = fakeParameterStore();
  ssm.put(releaseName, live);
  coordination = fakeCoordinationTable();
  running = { revision: handMade, image: `${story.registry}/web@${story.previousDigest}` };
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  answerStartExecution(sfnMock, stateMachineArn);
});

afterEach(() => {
  ssm.mock.reset();
  coordination.mock.reset();
  sfnMock.reset();
  eventsMock.reset();
});

describe('checkDrift', () => {
  it('says nothing, and reads nothing more, when the target runs the recorded revision', async () => {
    // Prepare
    running = { revision: story.taskDefinitionArn };

    // Act
    const outcome = await checkDrift(deps(), appEnv(), now);

    // Assess
    expect(outcome).toEqual({ action: 'none', why: 'runs the recorded release' });
    expect(ssm.mock).not.toHaveReceivedCommand(GetParameterCommand);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('announces Drift Detected with both sides, on the default bus, and starts nothing by default', async () => {
    // Act
    const outcome = await checkDrift(deps(), appEnv(), now);

    // Assess
    expect(outcome).toEqual({ action: 'reported', differences: ['revision', 'image'] });
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    const entry = eventsMock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry).toMatchObject({ Source: 'gantry', DetailType: 'Drift Detected', EventBusName: 'default' });
    expect(JSON.parse(entry?.Detail ?? '{}')).toEqual({
      app: 'web',
      env: 'prod',
      recorded: {
        revision: story.taskDefinitionArn,
        image: live.image,
        digest: story.digest,
        tag: 'v1.4.2',
        at: live.at,
        executionArn: story.executionArn,
      },
      running,
      differences: ['revision', 'image'],
      onDrift: 'report',
    });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('does not judge while a running deploy holds the lock: its rollout runs a revision not recorded yet', async () => {
    // Prepare
    const holder = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:push-web-prod-2`;
    coordination.put({
      ...keyOf(appEnvPartition('web', 'prod'), 'lock'),
      holder: { S: holder },
      requestedAt: { N: '1' },
    });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });

    // Act
    const outcome = await checkDrift(deps(), appEnv(), now);

    // Assess
    expect(outcome).toEqual({ action: 'none', why: `a deploy is in flight (${holder})` });
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('judges anyway when the lock holder has ended without letting go', async () => {
    // Prepare
    coordination.put({
      ...keyOf(appEnvPartition('web', 'prod'), 'lock'),
      holder: { S: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:push-web-prod-2` },
    });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });

    // Act, Assess
    expect(await checkDrift(deps(), appEnv(), now)).toMatchObject({ action: 'reported' });
  });

  it('does not report a release recorded since the run read the fleet', async () => {
    // Prepare: the hand-made revision is in fact what a deploy just recorded.
    ssm.put(releaseName, {
      ...live,
      revision: handMade,
      digest: story.previousDigest,
      image: running.image,
    });

    // Act, Assess
    expect(await checkDrift(deps(), appEnv(), now)).toEqual({
      action: 'none',
      why: 'a release was recorded, or put back, since the run began',
    });
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('with onDrift: restore, starts one restore of the recorded release, named after the drift', async () => {
    // Prepare
    const restoring = appEnv({ config: { ...webConfig, onDrift: 'restore' } });

    // Act
    const first = await checkDrift(deps(), restoring, now);
    sfnMock
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists', $metadata: {} }));
    const second = await checkDrift(deps(), restoring, '2025-06-03T11:05:00Z');

    // Assess
    const name = executionName('restore', 'web', 'prod', `${story.executionArn}|${handMade}`);
    expect(first).toMatchObject({
      action: 'restoring',
      started: true,
      executionArn: expect.stringContaining(name),
    });
    expect(second).toMatchObject({
      action: 'restoring',
      started: false,
      executionArn: expect.stringContaining(name),
    });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn, name });
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input).toEqual({
      app: 'web',
      env: 'prod',
      restore: true,
      reason: `drift: the target ran ${handMade} instead of the recorded ${story.taskDefinitionArn}`,
      source: 'reconciler',
      requestedAt: now,
    });
    const detail = (call: number) =>
      JSON.parse(eventsMock.commandCalls(PutEventsCommand)[call]?.args[0].input.Entries?.[0]?.Detail ?? '{}');
    expect(detail(0)).toMatchObject({
      onDrift: 'restore',
      restore: { executionArn: expect.stringContaining(name), started: true },
    });
    expect(detail(1)).toMatchObject({ restore: { started: false } });
  });

  it('is not judged with no release recorded, or after a failed rollback', async () => {
    const { release: _, ...neverReleased } = appEnv();
    expect(await checkDrift(deps(), neverReleased, now)).toEqual({
      action: 'none',
      why: 'no release recorded',
    });
    expect(await checkDrift(deps(), appEnv({ release: { ...live, kind: 'rollback-failed' } }), now)).toEqual({
      action: 'none',
      why: 'a rollback failed: what should run is unknown to Gantry too',
    });
  });
});

describe('driftOf', () => {
  const record = live;

  it('is none when the target runs the recorded revision and image', () => {
    expect(driftOf(record, { revision: story.taskDefinitionArn, image: record.image })).toBeUndefined();
  });

  it('names both sides and what differs when someone changed the service behind Gantry', () => {
    // Prepare: a revision registered and rolled out by hand, with another image.
    const running = {
      revision: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:43',
      image: `${story.registry}/web@${story.previousDigest}`,
    };

    // Act
    const drift = driftOf(record, running);

    // Assess
    expect(drift).toEqual({
      recorded: {
        revision: story.taskDefinitionArn,
        image: record.image,
        digest: story.digest,
        tag: 'v1.4.2',
        at: record.at,
        executionArn: story.executionArn,
      },
      running,
      differences: ['revision', 'image'],
    });
  });

  it('compares images by digest, and counts an image not pinned by digest as different', () => {
    // Prepare
    const { tag: _, ...untagged } = record;

    // Act, Assess
    expect(
      driftOf(untagged, { revision: record.revision, image: `other-host/web@${story.digest}` }),
    ).toBeUndefined();
    expect(driftOf(untagged, { revision: record.revision, image: `${story.registry}/web:latest` })).toEqual({
      recorded: {
        revision: record.revision,
        image: record.image,
        digest: story.digest,
        at: record.at,
        executionArn: record.executionArn,
      },
      running: { revision: record.revision, image: `${story.registry}/web:latest` },
      differences: ['image'],
    });
  });

  it('is not judged after a failed rollback, when Gantry itself does not know what should run', () => {
    expect(driftOf({ ...record, kind: 'rollback-failed' }, { revision: 'anything' })).toBeUndefined();
  });
});
