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
import { throttled, transientWhile } from '../support/throttling.ts';

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
let probeRequests: RequestInit[];

function deps(status = 200): GateDependencies {
  return {
    ecs: new ECSClient({ region: 'eu-west-1' }),
    cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }),
    fetch: (async (url: string | URL | Request, init: RequestInit = {}) => {
      probed.push(String(url));
      probeRequests.push(init);
      return new Response(null, { status });
    }) as typeof fetch,
    now: () => now,
  };
}

beforeEach(() => {
  probed = [];
  probeRequests = [];
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
      message: 'DecideGate needs an ECS blue/green, linear or canary deployment with a watch',
    });
    expect(ecsMock).not.toHaveReceivedCommand(ContinueServiceDeploymentCommand);
  });

  it('answers CONTINUE naming the probe that answered, with a GET that does not follow redirects', async () => {
    // Prepare
    const probe = { url: 'https://web.example.com/health', expectStatus: 200, timeoutMs: 1000 };

    // Act
    const decided = await decideGate(deps(200), {
      deployment,
      config: { ...config, gates: { alarms: [], probe } },
      gate,
    });

    // Assess: a redirect is another server answering, so its status is the probe's answer.
    expect(probeRequests).toMatchObject([{ method: 'GET', redirect: 'manual' }]);
    expect(probeRequests[0]?.signal).toBeInstanceOf(AbortSignal);
    expect(decided.watch?.gates.at(-1)).toMatchObject({
      action: 'CONTINUE',
      reasons: [
        'fewer than 2 task(s) of the new revision stopped',
        'https://web.example.com/health answered 200',
      ],
    });
  });

  it.each([
    ['TimeoutError', new DOMException('The operation timed out.', 'TimeoutError')],
    // Node's fetch rejects a refused connection with TypeError "fetch failed" (undici).
    ['TypeError', new TypeError('fetch failed')],
    // An injected stand-in may throw anything.
    ['error', 'connection reset'],
  ])('answers ROLLBACK when the probe does not answer, naming why (%s)', async (why, thrown) => {
    // Prepare
    const probe = { url: 'https://web.example.com/health', expectStatus: 200, timeoutMs: 1000 };
    const unanswered = { ...deps(), fetch: (async () => Promise.reject(thrown)) as typeof fetch };

    // Act
    const decided = await decideGate(unanswered, {
      deployment,
      config: { ...config, gates: { alarms: [], probe } },
      gate,
    });

    // Assess
    expect(decided.watch?.gates.at(-1)).toMatchObject({
      action: 'ROLLBACK',
      reasons: [`https://web.example.com/health did not answer within 1000 ms: ${why}`],
    });
  });

  it('asks CloudWatch for the gate alarms of both kinds in ALARM, and names a composite one without a reason', async () => {
    // Prepare
    cloudwatchMock.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: 'web-5xx', StateValue: 'OK' }],
      CompositeAlarms: [{ AlarmName: 'web-slo', StateValue: 'ALARM' }],
    });
    const withSlo = { ...config, gates: { alarms: ['web-5xx', 'web-slo'] } };

    // Act
    const decided = await decideGate(deps(), { deployment, config: withSlo, gate });

    // Assess: an alarm answered in another state (it changed meanwhile) does not count.
    expect(cloudwatchMock).toHaveReceivedCommandWith(DescribeAlarmsCommand, {
      AlarmNames: ['web-5xx', 'web-slo'],
      AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
      StateValue: 'ALARM',
    });
    expect(decided.watch?.gates.at(-1)).toMatchObject({
      action: 'ROLLBACK',
      reasons: ['alarm web-slo is in ALARM'],
    });
  });

  it('asks for the gate alarms 100 names at a time, the most DescribeAlarms takes', async () => {
    // Prepare
    const alarms = Array.from({ length: 150 }, (_, index) => `web-alarm-${index}`);

    // Act
    const decided = await decideGate(deps(), { deployment, config: { ...config, gates: { alarms } }, gate });

    // Assess
    const asked = cloudwatchMock
      .commandCalls(DescribeAlarmsCommand)
      .map((call) => call.args[0].input.AlarmNames);
    expect(asked).toEqual([alarms.slice(0, 100), alarms.slice(100)]);
    expect(decided.watch?.gates.at(-1)).toMatchObject({ action: 'CONTINUE' });
  });

  it('answers CONTINUE below the failed-task limit, and counts no task the scheduler stopped', async () => {
    // Prepare
    ecsMock.on(ListTasksCommand).resolves({ taskArns: ['t1', 't2', 't3'] });
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: 't1', stopCode: 'EssentialContainerExited' },
        {
          taskArn: 't2',
          stopCode: 'ServiceSchedulerInitiated',
          stoppedReason: 'Scaling activity initiated by deployment',
        },
        {
          taskArn: 't3',
          stopCode: 'ServiceSchedulerInitiated',
          stoppedReason: 'Scaling activity initiated by deployment',
        },
      ],
    });

    // Act
    const decided = await decideGate(deps(), { deployment, config, gate });

    // Assess
    expect(ecsMock).toHaveReceivedCommandWith(ContinueServiceDeploymentCommand, { action: 'CONTINUE' });
    expect(decided.watch?.gates.at(-1)).toMatchObject({ action: 'CONTINUE' });
  });

  it('checks only the failed tasks when the config has no gates, and asks CloudWatch nothing', async () => {
    // Prepare
    const { gates: _, ...ungated } = config;

    // Act
    const decided = await decideGate(deps(), { deployment, config: ungated, gate });

    // Assess
    expect(cloudwatchMock).not.toHaveReceivedCommand(DescribeAlarmsCommand);
    expect(probed).toEqual([]);
    expect(decided.watch?.gates.at(-1)?.reasons).toEqual([
      'fewer than 2 task(s) of the new revision stopped',
    ]);
  });

  it('keeps the decision unsent when ECS no longer knows the service deployment', async () => {
    // Prepare
    ecsMock.on(ContinueServiceDeploymentCommand).rejects(
      Object.assign(new Error('service deployment not found'), {
        name: 'ServiceDeploymentNotFoundException',
        $metadata: {},
      }),
    );

    // Act
    const decided = await decideGate(deps(), { deployment, config, gate });

    // Assess
    expect(decided.watch?.gates.at(-1)).toMatchObject({ sent: false });
  });

  it('fails with the error ECS gave when the answer is refused for another reason', async () => {
    // Prepare
    ecsMock.on(ContinueServiceDeploymentCommand).rejects(
      Object.assign(new Error('not authorized to perform ecs:ContinueServiceDeployment'), {
        name: 'AccessDeniedException',
        $metadata: {},
      }),
    );

    // Act / Assess
    await expect(decideGate(deps(), { deployment, config, gate })).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });

  it('names every gate alarm it found quiet', async () => {
    // Act
    const decided = await decideGate(deps(), {
      deployment,
      config: { ...config, gates: { alarms: ['web-5xx', 'web-slo'] } },
      gate,
    });

    // Assess
    expect(decided.watch?.gates.at(-1)?.reasons[0]).toBe('no alarm in ALARM (web-5xx, web-slo)');
  });

  it.each([
    ['describing the gate alarms', () => cloudwatchMock.on(DescribeAlarmsCommand).rejects(throttled())],
    ['answering the pause hook', () => ecsMock.on(ContinueServiceDeploymentCommand).rejects(throttled())],
  ])('fails with TransientAwsError saying it was %s when AWS throttles', async (doing, throttle) => {
    // Prepare
    throttle();

    // Act / Assess
    await expect(decideGate(deps(), { deployment, config, gate })).rejects.toMatchObject(
      transientWhile(doing),
    );
  });
});
