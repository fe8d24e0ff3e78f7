import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  ContinueServiceDeploymentCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployConfig } from '../../functions/src/config/schema.ts';
import { decideGate, type GateDependencies } from '../../functions/src/ecs/gates.ts';
import { watchFor } from '../../functions/src/ecs/service-deployment.ts';
import type { TargetDeployment } from '../../functions/src/targets/target.ts';

/*
 * DecideGate: Gantry's checks at a pause hook, and its answer.
 */

const ecsMock = mockClient(ECSClient);
const cloudwatchMock = mockClient(CloudWatchClient);
const arn = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/r9i43YFjvgF_xlg7m2eJ1r';
const now = new Date('2026-12-03T10:00:00Z');
const config: DeployConfig = {
  repository: 'web',
  target: { type: 'ecs', cluster: 'prod', service: 'web', container: 'app' },
  health: { timeoutSeconds: 600, maxFailedTasks: 2 },
  rollbackAlarms: [],
  gates: { alarms: ['web-5xx'] },
};
const deployment: TargetDeployment = {
  target: 'ecs',
  deploymentId: 'ecs-svc/1234',
  revision: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:8',
  previousRevision: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7',
  watch: watchFor({ deploymentConfiguration: { strategy: 'CANARY', bakeTimeInMinutes: 10 } }, 'CANARY', arn, {
    gates: config.gates,
    healthSeconds: 600,
  }),
};
const gate = {
  hookId: 'ecs-pause-e7tK9G_WRJqNF_EOMjztDXfKenlJuEUVjsNStf4WLKw',
  lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
};
let probed: string[];

function deps(status = 200): GateDependencies {
  return {
    ecs: new ECSClient({ region: 'eu-west-1' }),
    cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }),
    fetch: (async (url: string | URL | Request) => {
      probed.push(String(url));
      return new Response(null, { status });
    }) as typeof fetch,
    now: () => now,
  };
}

beforeEach(() => {
  probed = [];
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
  ecsMock.on(ContinueServiceDeploymentCommand).resolves({ serviceDeploymentArn: arn });
  cloudwatchMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], CompositeAlarms: [] });
});
afterEach(() => {
  ecsMock.reset();
  cloudwatchMock.reset();
});

describe('decideGate', () => {
  it('answers CONTINUE when every check passes, and keeps the decision with its reasons', async () => {
    const decided = await decideGate(deps(), { deployment, config, gate });

    expect(ecsMock).toHaveReceivedCommandWith(ContinueServiceDeploymentCommand, {
      serviceDeploymentArn: arn,
      hookId: gate.hookId,
      action: 'CONTINUE',
    });
    expect(decided.watch?.gates).toEqual([
      {
        ...gate,
        action: 'CONTINUE',
        reasons: ['no alarm in ALARM (web-5xx)', 'fewer than 2 task(s) of the new revision stopped'],
        decidedAt: now.toISOString(),
        sent: true,
      },
    ]);
  });

  it('answers ROLLBACK when a gate alarm is in ALARM, naming it', async () => {
    cloudwatchMock.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: 'web-5xx', StateValue: 'ALARM', StateReason: 'Threshold Crossed' }],
    });

    const decided = await decideGate(deps(), { deployment, config, gate });

    expect(ecsMock).toHaveReceivedCommandWith(ContinueServiceDeploymentCommand, { action: 'ROLLBACK' });
    expect(decided.watch?.gates.at(-1)?.reasons).toEqual(['alarm web-5xx is in ALARM: Threshold Crossed']);
  });

  it('answers ROLLBACK when tasks of the new revision stopped', async () => {
    ecsMock.on(ListTasksCommand).resolves({ taskArns: ['t1', 't2'] });
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: 't1', stopCode: 'TaskFailedToStart' },
        { taskArn: 't2', stoppedReason: 'Task failed ELB health checks in (target-group web)' },
      ],
    });

    const decided = await decideGate(deps(), { deployment, config, gate });

    expect(ecsMock).toHaveReceivedCommandWith(ListTasksCommand, {
      cluster: 'prod',
      startedBy: 'ecs-svc/1234',
      desiredStatus: 'STOPPED',
    });
    expect(decided.watch?.gates.at(-1)).toMatchObject({
      action: 'ROLLBACK',
      reasons: ['2 task(s) of the new revision stopped (limit 2)'],
    });
  });

  it('answers ROLLBACK when the HTTP probe gets another status', async () => {
    const probe = { url: 'https://web.example.com/health', expectStatus: 200, timeoutMs: 1000 };

    const decided = await decideGate(deps(503), {
      deployment,
      config: { ...config, gates: { alarms: [], probe } },
      gate,
    });

    expect(probed).toEqual([probe.url]);
    expect(decided.watch?.gates.at(-1)).toMatchObject({
      action: 'ROLLBACK',
      reasons: ['https://web.example.com/health answered 503, expected 200'],
    });
  });

  it('keeps a decision ECS refused for a stale hook, unsent, instead of crashing', async () => {
    ecsMock.on(ContinueServiceDeploymentCommand).rejects(
      Object.assign(new Error('hook is not awaiting action'), {
        name: 'InvalidParameterException',
        $metadata: {},
      }),
    );

    const decided = await decideGate(deps(), { deployment, config, gate });

    expect(decided.watch?.gates.at(-1)).toMatchObject({ action: 'CONTINUE', sent: false });
  });

  it('re-arms the timer for the step after the gate', async () => {
    const decided = await decideGate(deps(), {
      deployment,
      config,
      gate: { ...gate, lifecycleStage: 'POST_PRODUCTION_TRAFFIC_SHIFT' },
    });

    expect(decided.watch?.waitSeconds).toBe(600 + 600);
  });

  it('refuses a deployment without a watch: bad input, nothing answered', async () => {
    const { watch: _, ...rolling } = deployment;

    await expect(decideGate(deps(), { deployment: rolling, config, gate })).rejects.toMatchObject({
      name: 'InputInvalid',
    });
    expect(ecsMock).not.toHaveReceivedCommand(ContinueServiceDeploymentCommand);
  });
});
