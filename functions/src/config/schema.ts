import { swarmTargetSchema } from '../swarm/config.ts';
import * as z from '../zod.ts';
import { nameSchema } from './names.ts';

export { nameSchema };

const ecsTargetSchema = z.strictObject({
  type: z.literal('ecs'),
  cluster: z.string().check(z.minLength(1)),
  service: z.string().check(z.minLength(1)),
  /** The container whose image Gantry replaces; every other container is left as it is. */
  container: z.string().check(z.minLength(1)),
});

const healthSchema = z.strictObject({
  /** How long a rollout may take before it counts as failed. */
  timeoutSeconds: z._default(z.number().check(z.int(), z.minimum(60), z.maximum(86_400)), 900),
  /** Gantry rolls back once this many tasks of the new deployment have stopped failing. */
  maxFailedTasks: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(50)), 2),
});

/**
 * Gantry's own checks at each pause of an ECS blue/green, linear or canary deployment. The service
 * carries the PAUSE lifecycle hooks (its own infrastructure code); Gantry answers each with
 * ContinueServiceDeployment CONTINUE or ROLLBACK. Stopped tasks are judged against
 * `health.maxFailedTasks`.
 */
const gatesSchema = z.strictObject({
  /** CloudWatch alarms that must not be in ALARM at a gate; in ALARM during bake they roll back at once. */
  alarms: z._default(z.array(z.string().check(z.minLength(1))), []),
  /**
   * An HTTPS URL Gantry requests at each gate; any other status than `expectStatus` rolls back.
   * Gantry's Lambdas are not in a VPC: the URL must be reachable from the internet.
   */
  probe: z.optional(
    z.strictObject({
      url: z.url({ protocol: /^https?$/ }),
      expectStatus: z._default(z.number().check(z.int(), z.minimum(100), z.maximum(599)), 200),
      timeoutMs: z._default(z.number().check(z.int(), z.minimum(100), z.maximum(10_000)), 3000),
    }),
  ),
});

export const deployConfigSchema = z.strictObject({
  /** ECR repository name (not the URI) this app/environment tracks. */
  repository: z
    .string()
    .check(
      z.regex(/^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/, 'an ECR repository name'),
    ),
  /**
   * Which pushed tags deploy automatically (a JavaScript regular expression, anchored by you).
   * Absent: pushes never deploy this app/environment; only manual starts do.
   */
  tagPattern: z.optional(z.string().check(z.refine(isValidRegExp, 'a valid regular expression'))),
  /**
   * What Gantry deploys to, told apart by `type`. A new target adds its schema here and its case in
   * targets/target.ts's targetFor.
   */
  target: z.discriminatedUnion('type', [ecsTargetSchema, swarmTargetSchema]),
  health: z._default(healthSchema, { timeoutSeconds: 900, maxFailedTasks: 2 }),
  /** CloudWatch alarm names whose ALARM state rolls this app/environment back. */
  rollbackAlarms: z._default(z.array(z.string().check(z.minLength(1))), []),
  /**
   * What the reconciler does when the target runs something else than the recorded live release:
   * `report` (absent: the same) puts a `Drift Detected` event; `restore` also deploys the
   * recorded release back.
   */
  onDrift: z.optional(z.enum(['report', 'restore'])),
  /** Present: Gantry decides each pause of the service's blue/green, linear or canary deployment. */
  gates: z.optional(gatesSchema),
});

export type DeployConfig = z.infer<typeof deployConfigSchema>;
export type EcsTarget = z.infer<typeof ecsTargetSchema>;
export type { SwarmTarget } from '../swarm/config.ts';
export type HealthConfig = z.infer<typeof healthSchema>;
export type GatesConfig = z.infer<typeof gatesSchema>;

function isValidRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** One line per problem, naming the field: `health.timeoutSeconds: Too small: expected number to be >=60`. */
export function describeIssues(error: z.core.$ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    if (issue.code === 'unrecognized_keys') return `${path}: unknown key(s) ${issue.keys.join(', ')}`;
    return `${path}: ${issue.message}`;
  });
}
