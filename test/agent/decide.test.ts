import { describe, expect, it } from 'vitest';
import { parseAgentConfig, usesEcrAuth } from '../../agent/src/config.ts';
import {
  aggregate,
  checkOrder,
  judgeService,
  renderEnvironment,
  type ServiceView,
  type TaskView,
  updatePolicy,
} from '../../agent/src/decide.ts';
import { swarmPolicySchema } from '../../functions/src/swarm/contract.ts';

const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const image = (repository: string, digit = 'a') => `${registry}/${repository}@sha256:${digit.repeat(64)}`;
const config = parseAgentConfig({
  queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/gantry-swarm',
  eventBusName: 'gantry',
  targets: [{ app: 'shop', env: 'prod', services: ['shop_web', 'shop_worker'] }],
  registries: [{ registry, repositories: ['shop'] }],
});
const target = config.targets[0] as (typeof config.targets)[number];
const order = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    schemaVersion: 1,
    app: 'shop',
    env: 'prod',
    deploymentId: 'dep-12345678',
    kind: 'deploy',
    executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:gantry-deploy:x',
    orderedAt: '2026-12-03T12:00:00Z',
    services: [{ name: 'shop_web', image: image('shop') }],
    policy: {},
    ...extra,
  });

const task = (extra: Partial<TaskView> = {}): TaskView => ({
  id: 't1',
  desiredState: 'running',
  state: 'running',
  image: image('shop', 'b'),
  env: [],
  forceUpdate: 0,
  timestamp: '2026-12-03T12:00:00Z',
  ...extra,
});
const view = (extra: Partial<ServiceView> = {}): ServiceView => ({
  name: 'shop_web',
  specDeployment: 'dep-12345678',
  specImage: image('shop', 'b'),
  specEnv: [],
  specForceUpdate: 0,
  replicas: 1,
  tasks: [task()],
  ...extra,
});

describe('the agent config', () => {
  it('fills defaults: /gantry prefix, a 5-minute backstop, ECR auth for ECR hosts', () => {
    expect(config.parameterPrefix).toBe('/gantry');
    expect(config.backstopSeconds).toBe(300);
    expect(usesEcrAuth(config.registries[0] as (typeof config.registries)[number])).toBe(true);
  });

  it('refuses unknown keys and a target listed twice, naming them', () => {
    const base = {
      queueUrl: 'https://q/1/x',
      eventBusName: 'gantry',
      registries: [{ registry, repositories: ['*'] }],
    };
    const twice = { ...base, targets: [target, target] };

    expect(() => parseAgentConfig({ ...base, targets: [target], backstop: 5 })).toThrow(
      /AgentConfig|backstop/,
    );
    expect(() => parseAgentConfig({ ...base, targets: [target], backstop: 5 })).toThrow(
      expect.objectContaining({ name: 'AgentConfigInvalid' }),
    );
    expect(() => parseAgentConfig(twice)).toThrow(/shop\/prod is listed twice/);
  });
});

describe('checking an order', () => {
  it('accepts an order for its own app/env, services and allowed repository', () => {
    expect(checkOrder(order(), target, config)).toMatchObject({ ok: true });
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['a schema violation', order({ services: [] }), /schema/],
    ['another app', order({ app: 'bank' }), /bank\/prod/],
    [
      'a service outside its targets',
      order({ services: [{ name: 'db', image: image('shop') }] }),
      /outside shop\/prod.*db/,
    ],
    [
      'a repository outside the allow-list',
      order({ services: [{ name: 'shop_web', image: image('miner') }] }),
      /allow-list/,
    ],
    [
      'a registry outside the allow-list',
      order({ services: [{ name: 'shop_web', image: `evil.example.com/shop@sha256:${'a'.repeat(64)}` }] }),
      /allow-list/,
    ],
    [
      'a service named twice',
      order({
        services: [
          { name: 'shop_web', image: image('shop') },
          { name: 'shop_web', image: image('shop', 'c') },
        ],
      }),
      /twice/,
    ],
  ])('refuses %s with the reason', (_what, raw, reason) => {
    const check = checkOrder(raw, target, config);

    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toMatch(reason);
  });
});

describe('the update policy', () => {
  it('sets UpdateConfig and RollbackConfig explicitly, durations in nanoseconds', () => {
    const policy = swarmPolicySchema.parse({
      update: { monitorSeconds: 2 },
      rollback: { failureAction: 'continue' },
    });

    const { UpdateConfig, RollbackConfig } = updatePolicy(policy);

    expect(UpdateConfig).toEqual({
      Parallelism: 1,
      Delay: 0,
      Monitor: 2e9,
      MaxFailureRatio: 0,
      Order: 'stop-first',
      FailureAction: 'rollback',
    });
    expect(RollbackConfig).toMatchObject({ Monitor: 10e9, FailureAction: 'continue' });
  });
});

describe('rendering the environment', () => {
  it('turns a JSON object of strings into a sorted Env list', () => {
    expect(renderEnvironment('{"B":"2","A":"x=y"}')).toEqual(['A=x=y', 'B=2']);
  });

  it('refuses non-string values and bad names without echoing values', () => {
    expect(() => renderEnvironment('{"A":1}')).toThrow(/must be strings: A/);
    expect(() => renderEnvironment('{"1A":"secret-value"}')).toThrow(/names are invalid: 1A/);
    expect(() => renderEnvironment('{"1A":"secret-value"}')).not.toThrow(/secret-value/);
  });
});

describe('judging a service', () => {
  const ordered = image('shop', 'b');

  it('completes when the engine says so and every task runs the ordered image', () => {
    expect(judgeService(view({ updateState: 'completed' }), 'dep-12345678', ordered)).toEqual({
      state: 'completed',
    });
  });

  it('keeps watching while old tasks still run, even without an update status', () => {
    const old = view({ tasks: [task({ image: image('shop', 'a') })] });

    expect(judgeService(old, 'dep-12345678', ordered).state).toBe('updating');
  });

  it('keeps watching when only the environment changed and tasks still run the old one', () => {
    const envChange = view({ specEnv: ['A=1'], tasks: [task({ env: [] })] });

    expect(judgeService(envChange, 'dep-12345678', ordered).state).toBe('updating');
  });

  it('reports a rollback from its state after Swarm put the old spec back, with the failing task', () => {
    const rolledBack = view({
      specDeployment: undefined,
      specImage: image('shop', 'a'),
      updateState: 'rollback_completed',
      updateMessage: 'rollback completed',
      tasks: [
        task({ image: image('shop', 'a') }),
        task({
          id: 't0',
          state: 'failed',
          desiredState: 'shutdown',
          exitCode: 3,
          error: 'task: non-zero exit (3)',
        }),
      ],
    });

    expect(judgeService(rolledBack, 'dep-12345678', ordered)).toEqual({
      state: 'rollback_completed',
      reason: 'shop_web: rollback completed; task t0 failed (exit 3): task: non-zero exit (3)',
      settling: false,
    });
  });

  it('keeps rollback_paused apart from a clean rollback', () => {
    expect(
      judgeService(
        view({ specDeployment: undefined, updateState: 'rollback_paused' }),
        'dep-12345678',
        ordered,
      ).state,
    ).toBe('rollback_paused');
  });

  it('fails when someone else wrote the spec since', () => {
    expect(judgeService(view({ specDeployment: 'dep-other-1' }), 'dep-12345678', ordered).state).toBe(
      'failed',
    );
  });

  it('never counts a task the engine shut down on purpose as a failure', () => {
    const replaced = view({
      updateState: 'completed',
      tasks: [task(), task({ id: 't0', state: 'shutdown', desiredState: 'shutdown', exitCode: 137 })],
    });

    expect(judgeService(replaced, 'dep-12345678', ordered)).toEqual({ state: 'completed' });
  });
});

describe('an order of several services', () => {
  it('completes only when every service completed, else names the worst outcome', () => {
    expect(aggregate(['completed', 'completed'])).toBe('completed');
    expect(aggregate(['completed', 'updating'])).toBe('updating');
    expect(aggregate(['completed', 'rollback_completed'])).toBe('rollback_completed');
    expect(aggregate(['rollback_completed', 'failed'])).toBe('failed');
    expect(aggregate(['failed', 'rollback_paused'])).toBe('rollback_paused');
  });
});
