import { ECRClient } from '@aws-sdk/client-ecr';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveDeployPlan } from '../../functions/src/deploy-plan.ts';
import { NoPreviousRelease } from '../../functions/src/errors.ts';
import { recordOutcome } from '../../functions/src/outcome.ts';
import type { ReleaseRecord } from '../../functions/src/release.ts';
import {
  describeServicesResponse,
  ecsTargetClients,
  serviceOf,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';
import { deployment, live, older, planOf } from '../support/deploy-states.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/** A restore (the reconciler's answer to drift with `onDrift: restore`), through the deploy's own steps. */
const ecsMock = mockClient(ECSClient);
const eventsMock = mockClient(EventBridgeClient);
let ssm: ReturnType<typeof fakeParameterStore>;

const liveRecord: ReleaseRecord = {
  kind: 'release',
  ...live,
  at: '2025-06-03T10:19:30.000Z',
  executionArn: story.executionArn,
  requestedAt: '2025-06-03T10:15:01Z',
  previous: older,
};
const input = (request: Record<string, unknown>) => ({
  request,
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:restore-web-prod-1',
  startedAt: '2025-06-03T11:00:01.000Z',
});

beforeEach(() => {
  ssm = fakeParameterStore();
  ssm.put('/gantry/web/prod/config', webConfig);
  ecsMock
    .on(DescribeServicesCommand)
    .resolves(describeServicesResponse(serviceOf({ tags: [{ key: 'gantry:managed', value: 'true' }] })));
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
});

afterEach(() => {
  ssm.mock.reset();
  ecsMock.reset();
  eventsMock.reset();
});

describe('a restore request', () => {
  const deps = () => ({
    ssm: ssm.client,
    ecr: new ECRClient({ region: story.region }),
    targets: ecsTargetClients(new ECSClient({ region: story.region })),
    parameterPrefix: '/gantry',
    // A restore never reads the history (only a rollback "to" a release does).
    table: fakeCoordinationTable().table,
  });

  it('plans the recorded live release itself, its revision reused, keeping the previous one', async () => {
    // Prepare
    ssm.put('/gantry/web/prod/release', liveRecord);

    // Act
    const plan = await resolveDeployPlan(
      deps(),
      input({ app: 'web', env: 'prod', restore: true, reason: 'drift', source: 'reconciler' }),
    );

    // Assess
    expect(plan).toMatchObject({
      mode: 'restore',
      desired: live,
      live,
      livePrevious: older,
      source: 'reconciler',
    });
  });

  it('is refused, changing nothing, when no live release is recorded', async () => {
    await expect(
      resolveDeployPlan(deps(), input({ app: 'web', env: 'prod', restore: true })),
    ).rejects.toThrow(NoPreviousRelease);
  });

  it('is refused together with an image or a rollback', async () => {
    await expect(
      resolveDeployPlan(deps(), input({ app: 'web', env: 'prod', restore: true, rollback: true })),
    ).rejects.toThrow(/exactly one of "image", "rollback": true or "restore": true/);
  });

  it('records the same release again with its previous one, announced as Drift Restored', async () => {
    // Prepare
    const table = fakeCoordinationTable();
    const plan = planOf({ mode: 'restore', desired: live, live, livePrevious: older, reason: 'drift' });

    // Act
    const result = await recordOutcome(
      {
        ssm: ssm.client,
        table: table.table,
        events: new EventBridgeClient({ region: story.region }),
        parameterPrefix: '/gantry',
        eventBusName: 'default',
        now: () => new Date('2025-06-03T11:01:00.000Z'),
      },
      'release',
      { plan, deployment: { ...deployment, revision: live.revision } },
    );

    // Assess
    expect(result.event).toBe('Drift Restored');
    expect(ssm.json('/gantry/web/prod/release')).toMatchObject({
      kind: 'release',
      ...live,
      previous: older,
      reason: 'drift',
    });
    table.mock.reset();
  });
});
