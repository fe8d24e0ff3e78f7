import {
  AwsError,
  checkKeys,
  isObject,
  type Json,
  type JsonObject,
  UnsupportedParameter,
} from '../protocol.ts';

/**
 * `deploymentConfiguration` of CreateService/UpdateService for the ECS-native strategies, checked
 * as ECS documents it. Sources (checked against AWS's documentation, never against AWS itself):
 * - the ECS API model in `@aws-sdk/client-ecs` 3.1164 (`DeploymentConfiguration`,
 *   `LinearConfiguration`, `CanaryConfiguration`, `DeploymentLifecycleHook`,
 *   `DeploymentLifecycleHookTimeoutConfiguration` in `dist-types/models/models_0.d.ts`);
 * - "Pause hooks for Amazon ECS service deployments" (developer guide, pause-lifecycle-hooks):
 *   valid pause stages, 1..20,160 minutes, at most 10 pause and 10 Lambda hooks per service, no
 *   `hookTargetArn`/`roleArn` on pause hooks;
 * - API_DeploymentLifecycleHookTimeoutConfiguration: `timeoutInMinutes` 1..20160.
 */

export type DeploymentStrategy = 'ROLLING' | 'BLUE_GREEN' | 'LINEAR' | 'CANARY';
export type HookAction = 'CONTINUE' | 'ROLLBACK';
export type HookTargetType = 'PAUSE' | 'AWS_LAMBDA';

export interface LifecycleHookConfig {
  readonly targetType: HookTargetType;
  /** Open strings: the SDK's enum lags the documentation (PRE_PRODUCTION_TRAFFIC_SHIFT came later). */
  readonly lifecycleStages: readonly string[];
  readonly hookTargetArn?: string;
  readonly roleArn?: string;
  readonly hookDetails?: Json;
  readonly timeoutInMinutes: number;
  readonly timeoutAction: HookAction;
}

export interface StrategyConfig {
  readonly strategy: DeploymentStrategy;
  readonly bakeTimeInMinutes: number;
  readonly linear?: { readonly stepPercent: number; readonly stepBakeTimeInMinutes: number };
  readonly canary?: { readonly canaryPercent: number; readonly canaryBakeTimeInMinutes: number };
  readonly lifecycleHooks: readonly LifecycleHookConfig[];
}

/** Stages a hook may name (DeploymentLifecycleHook.lifecycleStages; the developer guide's stage table). */
export const HOOK_STAGES = [
  'RECONCILE_SERVICE',
  'PRE_SCALE_UP',
  'POST_SCALE_UP',
  'TEST_TRAFFIC_SHIFT',
  'POST_TEST_TRAFFIC_SHIFT',
  'PRE_PRODUCTION_TRAFFIC_SHIFT',
  'PRODUCTION_TRAFFIC_SHIFT',
  'POST_PRODUCTION_TRAFFIC_SHIFT',
] as const;

/** "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages" (API model). */
const LAMBDA_ONLY_STAGES = ['TEST_TRAFFIC_SHIFT', 'PRODUCTION_TRAFFIC_SHIFT'];

/** "You can configure a maximum of 10 pause hooks and 10 Lambda hooks per service" (pause-lifecycle-hooks). */
const MAX_HOOKS_PER_TYPE = 10;

const CONFIGURATION_KEYS = [
  'strategy',
  'bakeTimeInMinutes',
  'linearConfiguration',
  'canaryConfiguration',
  'lifecycleHooks',
] as const;
const HOOK_KEYS = [
  'targetType',
  'hookTargetArn',
  'roleArn',
  'lifecycleStages',
  'hookDetails',
  'timeoutConfiguration',
] as const;

function invalid(message: string): AwsError {
  return new AwsError('InvalidParameterException', message);
}

function optionalNumber(value: Json | undefined, where: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${where} must be a number`);
  return value;
}

function minutes(value: Json | undefined, where: string, fallback: number, min: number, max: number): number {
  const found = optionalNumber(value, where) ?? fallback;
  if (!Number.isInteger(found) || found < min || found > max) {
    throw invalid(`${where} must be an integer from ${min} to ${max}`);
  }
  return found;
}

/** Percentages are "multiples of 0.1" in a range (LinearConfiguration.stepPercent, CanaryConfiguration.canaryPercent). */
function tenths(value: Json | undefined, where: string, fallback: number, min: number): number {
  const found = optionalNumber(value, where) ?? fallback;
  const scaled = Math.round(found * 10);
  if (Math.abs(found * 10 - scaled) > 1e-9 || found < min || found > 100) {
    throw invalid(`${where} must be a multiple of 0.1 from ${min} to 100.0`);
  }
  return scaled / 10;
}

/** The default configuration of a service nobody configured: today's rolling update. */
export const ROLLING: StrategyConfig = { strategy: 'ROLLING', bakeTimeInMinutes: 0, lifecycleHooks: [] };

/**
 * Parses a `deploymentConfiguration` request member. Keys the emulator does not model (maximumPercent,
 * alarms, deploymentCircuitBreaker, …) are refused by name; a ROLLING configuration with hooks is
 * refused too: pause hooks on rolling deployments exist on AWS but are not emulated.
 */
export function parseStrategyConfig(raw: Json, controller: string): StrategyConfig {
  if (!isObject(raw)) throw invalid('deploymentConfiguration must be an object');
  checkKeys('deploymentConfiguration', raw, CONFIGURATION_KEYS);
  const strategy = raw.strategy ?? 'ROLLING';
  if (strategy !== 'ROLLING' && strategy !== 'BLUE_GREEN' && strategy !== 'LINEAR' && strategy !== 'CANARY') {
    throw invalid(
      `deploymentConfiguration.strategy '${String(strategy)}' is not ROLLING, BLUE_GREEN, LINEAR or CANARY`,
    );
  }
  // LinearConfiguration/CanaryConfiguration: "only valid when you run CreateService or UpdateService
  // with deploymentController set to ECS".
  if (strategy !== 'ROLLING' && controller !== 'ECS') {
    throw invalid(
      `deploymentConfiguration.strategy ${strategy} needs the ECS deployment controller, not ${controller}`,
    );
  }
  if (raw.linearConfiguration !== undefined && strategy !== 'LINEAR') {
    throw invalid('linearConfiguration is only valid when the deployment strategy is LINEAR');
  }
  if (raw.canaryConfiguration !== undefined && strategy !== 'CANARY') {
    throw invalid('canaryConfiguration is only valid when the deployment strategy is CANARY');
  }
  // DeploymentConfiguration.bakeTimeInMinutes: "You must provide this parameter when you use the
  // BLUE_GREEN deployment strategy." Its range is not in the model; 0..1440 is the range of the
  // step bake times next to it, assumed here.
  if (strategy === 'BLUE_GREEN' && (raw.bakeTimeInMinutes === undefined || raw.bakeTimeInMinutes === null)) {
    throw invalid('bakeTimeInMinutes is required with the BLUE_GREEN deployment strategy');
  }
  const bakeTimeInMinutes = minutes(raw.bakeTimeInMinutes, 'bakeTimeInMinutes', 0, 0, 1440);
  const hooks = parseHooks(raw.lifecycleHooks);
  if (strategy === 'ROLLING') {
    if (hooks.length > 0) {
      throw new UnsupportedParameter(
        'deploymentConfiguration: lifecycle hooks on a ROLLING deployment are not emulated by the Gantry sandbox',
      );
    }
    return ROLLING;
  }
  const config: StrategyConfig = { strategy, bakeTimeInMinutes, lifecycleHooks: hooks };
  if (strategy === 'LINEAR') {
    // LinearConfiguration: stepPercent 3.0..100.0 in tenths, default 10; bake 0..1440, default 6.
    const [stepPercent, stepBakeTimeInMinutes] = steps(
      raw,
      'linearConfiguration',
      ['stepPercent', 10, 3],
      ['stepBakeTimeInMinutes', 6],
    );
    return { ...config, linear: { stepPercent, stepBakeTimeInMinutes } };
  }
  if (strategy === 'CANARY') {
    // CanaryConfiguration: canaryPercent 0.1..100.0 in tenths, default 5; bake 0..1440, default 10.
    const [canaryPercent, canaryBakeTimeInMinutes] = steps(
      raw,
      'canaryConfiguration',
      ['canaryPercent', 5, 0.1],
      ['canaryBakeTimeInMinutes', 10],
    );
    return { ...config, canary: { canaryPercent, canaryBakeTimeInMinutes } };
  }
  return config;
}

/** A linear or canary configuration member: its percent (default, minimum) and bake minutes (default). */
function steps(
  raw: JsonObject,
  member: 'linearConfiguration' | 'canaryConfiguration',
  [percentKey, percentDefault, percentMin]: [string, number, number],
  [bakeKey, bakeDefault]: [string, number],
): [number, number] {
  const value = raw[member] ?? {};
  if (!isObject(value)) throw invalid(`${member} must be an object`);
  checkKeys(member, value, [percentKey, bakeKey]);
  return [
    tenths(value[percentKey], `${member}.${percentKey}`, percentDefault, percentMin),
    minutes(value[bakeKey], `${member}.${bakeKey}`, bakeDefault, 0, 1440),
  ];
}

function parseHooks(raw: Json | undefined): LifecycleHookConfig[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalid('lifecycleHooks must be a list');
  const hooks = raw.map((item, index) => parseHook(item, `lifecycleHooks[${index}]`));
  for (const type of ['PAUSE', 'AWS_LAMBDA'] as const) {
    if (hooks.filter((h) => h.targetType === type).length > MAX_HOOKS_PER_TYPE) {
      throw invalid(`at most ${MAX_HOOKS_PER_TYPE} ${type} lifecycle hooks per service`);
    }
  }
  return hooks;
}

function parseHook(raw: Json, where: string): LifecycleHookConfig {
  if (!isObject(raw)) throw invalid(`${where} must be an object`);
  checkKeys(where, raw, HOOK_KEYS);
  // DeploymentLifecycleHook.targetType: "If not specified, the default value is AWS_LAMBDA."
  const targetType = raw.targetType ?? 'AWS_LAMBDA';
  if (targetType !== 'PAUSE' && targetType !== 'AWS_LAMBDA') {
    throw invalid(`${where}.targetType '${String(targetType)}' is not PAUSE or AWS_LAMBDA`);
  }
  const stages = raw.lifecycleStages;
  if (!Array.isArray(stages) || stages.length === 0 || !stages.every((s) => typeof s === 'string')) {
    throw invalid(`${where}.lifecycleStages must name at least one lifecycle stage`);
  }
  for (const stage of stages as string[]) {
    if (!(HOOK_STAGES as readonly string[]).includes(stage)) {
      throw invalid(`${where}.lifecycleStages: '${stage}' is not a stage a lifecycle hook can run at`);
    }
    if (targetType === 'PAUSE' && LAMBDA_ONLY_STAGES.includes(stage)) {
      throw invalid(`${where}: PAUSE hooks cannot be configured at the ${stage} stage (AWS_LAMBDA only)`);
    }
  }
  const timeout = raw.timeoutConfiguration ?? {};
  if (!isObject(timeout)) throw invalid(`${where}.timeoutConfiguration must be an object`);
  checkKeys(`${where}.timeoutConfiguration`, timeout, ['timeoutInMinutes', 'action']);
  const action = timeout.action ?? 'ROLLBACK';
  if (action !== 'CONTINUE' && action !== 'ROLLBACK') {
    throw invalid(`${where}.timeoutConfiguration.action '${String(action)}' is not CONTINUE or ROLLBACK`);
  }
  const hook = {
    targetType,
    lifecycleStages: [...(stages as string[])],
    // Default 1440 (24 h), range 1..20160 (14 days).
    timeoutInMinutes: minutes(
      timeout.timeoutInMinutes,
      `${where}.timeoutConfiguration.timeoutInMinutes`,
      1440,
      1,
      20160,
    ),
    timeoutAction: action,
  } as const;
  const hookTargetArn = typeof raw.hookTargetArn === 'string' ? raw.hookTargetArn : undefined;
  const roleArn = typeof raw.roleArn === 'string' ? raw.roleArn : undefined;
  if (targetType === 'PAUSE') {
    if (hookTargetArn !== undefined || roleArn !== undefined) {
      throw invalid(`${where}: PAUSE hooks take no hookTargetArn or roleArn`);
    }
    return hook;
  }
  // "You must provide this parameter when configuring an AWS_LAMBDA lifecycle hook."
  if (hookTargetArn === undefined || !hookTargetArn.startsWith('arn:')) {
    throw invalid(`${where}.hookTargetArn (a Lambda function ARN) is required for an AWS_LAMBDA hook`);
  }
  if (roleArn === undefined || !roleArn.startsWith('arn:')) {
    throw invalid(
      `${where}.roleArn (the role ECS assumes to invoke the function) is required for an AWS_LAMBDA hook`,
    );
  }
  return {
    ...hook,
    hookTargetArn,
    roleArn,
    ...(raw.hookDetails === undefined ? {} : { hookDetails: raw.hookDetails }),
  };
}

/** The configuration as DescribeServices and DescribeServiceDeployments return it. */
export function renderStrategyConfig(config: StrategyConfig): JsonObject {
  const out: JsonObject = { strategy: config.strategy, bakeTimeInMinutes: config.bakeTimeInMinutes };
  if (config.linear !== undefined) out.linearConfiguration = { ...config.linear };
  if (config.canary !== undefined) out.canaryConfiguration = { ...config.canary };
  out.lifecycleHooks = config.lifecycleHooks.map((h) => {
    const hook: JsonObject = {
      targetType: h.targetType,
      lifecycleStages: [...h.lifecycleStages],
      timeoutConfiguration: { timeoutInMinutes: h.timeoutInMinutes, action: h.timeoutAction },
    };
    if (h.hookTargetArn !== undefined) hook.hookTargetArn = h.hookTargetArn;
    if (h.roleArn !== undefined) hook.roleArn = h.roleArn;
    if (h.hookDetails !== undefined) hook.hookDetails = h.hookDetails;
    return hook;
  });
  return out;
}

/**
 * The production traffic weights (percent on the new revision) after each traffic shift step:
 * linear shifts `stepPercent` per step until 100 (⌈100/stepPercent⌉ steps, LinearConfiguration);
 * canary shifts `canaryPercent`, then the rest (2 steps, CanaryConfiguration); blue/green shifts
 * everything at once (1 step, "Amazon ECS blue/green service deployments workflow").
 */
export function trafficSteps(config: StrategyConfig): number[] {
  if (config.linear !== undefined) {
    const step = config.linear.stepPercent;
    const count = Math.ceil(100 / step - 1e-9);
    return Array.from({ length: count }, (_, i) => Math.min(100, Math.round((i + 1) * step * 10) / 10));
  }
  if (config.canary !== undefined) {
    return config.canary.canaryPercent >= 100 ? [100] : [config.canary.canaryPercent, 100];
  }
  return [100];
}

/**
 * Minutes to wait after a traffic shift step that is not the last: LinearConfiguration's step bake
 * time "is not applied after reaching 100 percent traffic"; canary waits its bake time after the
 * canary step.
 */
export function stepBakeMinutes(config: StrategyConfig): number {
  return config.linear?.stepBakeTimeInMinutes ?? config.canary?.canaryBakeTimeInMinutes ?? 0;
}
