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
});

export type DeployConfig = z.infer<typeof deployConfigSchema>;
export type EcsTarget = z.infer<typeof ecsTargetSchema>;
export type { SwarmTarget } from '../swarm/config.ts';
export type HealthConfig = z.infer<typeof healthSchema>;

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
