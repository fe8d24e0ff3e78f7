import type { SSMClient } from '@aws-sdk/client-ssm';
import { loadDeployConfig } from './config/load-config.ts';
import type { CoordinationTable } from './coordination/table.ts';
import {
  type DeployPlan,
  type PlanDependencies,
  parseDeployRequest,
  resolveDeployPlan,
} from './deploy-plan.ts';
import { GantryError, hasErrorName } from './errors.ts';
import { appEnvParameters, readParameter } from './parameters.ts';
import { readAppEnvStatus } from './status.ts';
import { type TargetPreview, targetFor } from './targets/target.ts';

export type VerifyCheck = TargetPreview['checks'][number];

export interface DryRun {
  plan?: DeployPlan;
  preview?: TargetPreview;
  checks: VerifyCheck[];
}

export interface DryRunDependencies extends PlanDependencies {
  table: CoordinationTable;
  /** The deploy state machine: the dry run's plan names an execution of it that never starts. */
  stateMachineArn: string;
  /** Role-name patterns Gantry may pass (the stack's TaskRoleNames / ExecutionRoleNames). */
  passableRoles: { task: string; execution: string };
  now: () => Date;
}

/**
 * `gantry plan`: ResolveConfig and the target's own code with reads only, nothing written. What the
 * deploy would change (the target's preview) and a verify list: the config, the target may be
 * deployed, the image is in ECR, the roles may be passed, the secrets exist, the lock is free.
 * A check that fails does not stop the others unless they need what it would have given.
 */
export async function dryRun(deps: DryRunDependencies, request: Record<string, unknown>): Promise<DryRun> {
  const checks: VerifyCheck[] = [];
  const parsed = parseDeployRequest(request);
  const parameters = appEnvParameters(deps.parameterPrefix, parsed.app, parsed.env);
  const outcome = async <T>(
    check: string,
    work: () => Promise<T>,
    ok: (value: T) => string,
  ): Promise<T | undefined> => {
    try {
      const value = await work();
      checks.push({ check, status: 'ok', detail: ok(value) });
      return value;
    } catch (error) {
      if (!(error instanceof GantryError)) throw error;
      checks.push({ check, status: 'fail', detail: `${error.name}: ${error.message}` });
      return undefined;
    }
  };

  const config = await outcome(
    'config',
    () => loadDeployConfig(deps.ssm, parameters.config),
    () => `${parameters.config} is valid`,
  );
  if (!config) return { checks };
  const target = targetFor(config, deps.targets);
  const deployable = await outcome(
    'target may be deployed',
    async () => {
      await target.requireDeployable();
      return true;
    },
    () => `${config.target.type} target is marked for Gantry`,
  );
  const plan = deployable
    ? await outcome(
        parsed.rollback ? 'release to roll back to' : 'image in ECR',
        () =>
          resolveDeployPlan(deps, {
            request: parsed,
            // Names an execution that never starts: only its region and account are read (the registry).
            executionArn: `${deps.stateMachineArn.replace(':stateMachine:', ':execution:')}:gantry-plan`,
            startedAt: deps.now().toISOString(),
          }),
        (resolved) => `${resolved.desired.tag ?? resolved.desired.digest} is ${resolved.desired.image}`,
      )
    : undefined;
  const preview = plan
    ? await outcome(
        'target preview',
        () => target.preview(plan),
        () => 'computed with reads only',
      )
    : undefined;
  if (preview) {
    checks.push(...preview.checks);
    for (const role of preview.references.roles) checks.push(roleCheck(role, deps.passableRoles));
    for (const secret of preview.references.secrets) checks.push(await secretCheck(deps.ssm, secret));
  }
  const status = await readAppEnvStatus(deps, parsed.app, parsed.env);
  checks.push(
    status.lock
      ? {
          check: 'lock',
          status: 'warn',
          detail: `held by ${status.lock.holder} (${status.lock.image}): a deploy would wait`,
        }
      : { check: 'lock', status: 'ok', detail: 'free' },
  );
  return { ...(plan && { plan }), ...(preview && { preview }), checks };
}

/**
 * A role the revision passes to ECS must match the stack's pattern for its use, or the deploy's
 * iam:PassRole is refused (functions/permissions.cjs). Whether the role exists is not checked: that
 * needs iam:GetRole and an IAM client Gantry does not otherwise use.
 */
function roleCheck(
  role: TargetPreview['references']['roles'][number],
  patterns: DryRunDependencies['passableRoles'],
): VerifyCheck {
  const name = role.arn.slice(role.arn.lastIndexOf('/') + 1);
  const pattern = patterns[role.use];
  const matches = globToRegExp(pattern).test(name);
  return {
    check: `${role.use} role may be passed`,
    status: matches ? 'ok' : 'fail',
    detail: `${name} ${matches ? 'matches' : 'does not match'} ${pattern} (existence not checked)`,
  };
}

/** IAM's ARN wildcards: `*` any run of characters, `?` one (IAM User Guide, "IAM JSON policy elements: Resource"). */
function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/**
 * A secret from Parameter Store (its ARN or name) must exist; one GetParameter without decryption,
 * so the value is never read in clear. Secrets Manager references are not checked (no client).
 */
async function secretCheck(ssm: SSMClient, reference: string): Promise<VerifyCheck> {
  const parameter =
    /^arn:[^:]+:ssm:[^:]*:[^:]*:parameter(\/.*)$/.exec(reference)?.[1] ??
    (reference.startsWith('/') ? reference : undefined);
  if (parameter === undefined) {
    return {
      check: 'secret exists',
      status: 'unknown',
      detail: `${reference}: not a Parameter Store reference, not checked`,
    };
  }
  try {
    const found = await readParameter(ssm, parameter);
    return found
      ? { check: 'secret exists', status: 'ok', detail: parameter }
      : { check: 'secret exists', status: 'fail', detail: `${parameter}: no such parameter` };
  } catch (error) {
    if (hasErrorName(error, 'AccessDeniedException')) {
      return { check: 'secret exists', status: 'unknown', detail: `${parameter}: you may not read it` };
    }
    throw error;
  }
}
