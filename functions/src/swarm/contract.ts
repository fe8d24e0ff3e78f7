/**
 * The contract between Gantry's Lambdas and the swarm host agent (`agent/`): what an order says,
 * where it lives, and what the agent reports back. Both sides import this one module, so the
 * agent's bundle and the Lambdas can never disagree on a field.
 *
 * The signal is a Parameter Store write, as in the seed Gantry grew from: the order parameter is
 * the source of truth; the SQS wake-up message only says "read your orders now". The agent never
 * sees a task token: it reports phases as EventBridge events (`source: gantry.agent`) and in its
 * status parameter, and a Gantry Lambda resumes the parked execution from those.
 *
 * Declared with `zod/mini` (../zod.ts), as every Lambda-side schema is: the Lambdas import these
 * schemas too, and classic zod would add its cold-import cost to each of them.
 */

import { nameSchema } from '../config/names.ts';
import * as z from '../zod.ts';

/** EventBridge `source` of every agent event; the Gantry bus's policy lets only agents put it. */
export const agentEventSource = 'gantry.agent';
/** EventBridge `detail-type` of a rollout phase report. */
export const swarmRolloutDetailType = 'Swarm Rollout State Change';

/** The app/env's parameters the agent reads (order, environment) and writes (status). */
export function swarmParameters(prefix: string, app: string, env: string) {
  const base = `${prefix}/${app}/${env}`;
  return {
    /** The current order (String, JSON): written by Gantry, read by the agent. */
    order: `${base}/order`,
    /** What the agent last did and what runs now (String, JSON): written by the agent only. */
    status: `${base}/status`,
    /** The app's environment variables (SecureString, JSON object of strings): written by people. */
    environment: `${base}/environment`,
  };
}

/** A pinned image: `registry/repository@sha256:<64 hex>`; tags are for humans only. */
export const pinnedImageSchema = z
  .string()
  .check(
    z.regex(
      /^[a-z0-9.-]+(?::[0-9]+)?\/(?:[a-z0-9._-]+\/)*[a-z0-9._-]+@sha256:[0-9a-f]{64}$/,
      'registry/repository@sha256:<64 hex>',
    ),
  );

/** Swarm service names: Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63 characters. */
export const swarmServiceNameSchema = z
  .string()
  .check(z.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, 'a swarm service name'));

/**
 * Update and rollback policy, as Docker's `UpdateConfig`/`RollbackConfig` take it, in seconds.
 * The rollback policy is always set explicitly: Docker's default rollback failure action is
 * `pause`, which can leave a rollback paused with tasks still failing (../TOOLCHAIN facts).
 */
const policySchema = z.strictObject({
  parallelism: z._default(z.number().check(z.int(), z.minimum(0), z.maximum(100)), 1),
  delaySeconds: z._default(z.number().check(z.minimum(0), z.maximum(3_600)), 0),
  monitorSeconds: z._default(z.number().check(z.minimum(1), z.maximum(3_600)), 10),
  maxFailureRatio: z._default(z.number().check(z.minimum(0), z.maximum(1)), 0),
  order: z._default(z.enum(['stop-first', 'start-first']), 'stop-first'),
});
/** The policy's defaults, for an absent `update` or `rollback` (each field's own default). */
const policyDefaults = {
  parallelism: 1,
  delaySeconds: 0,
  monitorSeconds: 10,
  maxFailureRatio: 0,
  order: 'stop-first',
} as const;
export const swarmPolicySchema = z.strictObject({
  update: z._default(
    z.extend(policySchema, {
      failureAction: z._default(z.enum(['rollback', 'pause', 'continue']), 'rollback'),
    }),
    { ...policyDefaults, failureAction: 'rollback' },
  ),
  rollback: z._default(
    z.extend(policySchema, { failureAction: z._default(z.enum(['pause', 'continue']), 'pause') }),
    { ...policyDefaults, failureAction: 'pause' },
  ),
});
export type SwarmPolicy = z.infer<typeof swarmPolicySchema>;

/** One order: every named service moves to its pinned image, all or nothing. */
export const swarmOrderSchema = z.strictObject({
  schemaVersion: z.literal(1),
  app: nameSchema,
  env: nameSchema,
  /** Gantry's id for this rollout; the parked task token and every report name it. */
  deploymentId: z.string().check(z.regex(/^[A-Za-z0-9_-]{8,80}$/)),
  /** `deploy` for a new release, `rollback` when Gantry puts the last good one back. */
  kind: z.enum(['deploy', 'rollback']),
  /** The execution that ordered it (for people reading the status; the agent never calls it). */
  executionArn: z.string().check(z.minLength(1)),
  orderedAt: z.iso.datetime(),
  services: z
    .array(z.strictObject({ name: swarmServiceNameSchema, image: pinnedImageSchema }))
    .check(z.minLength(1), z.maxLength(20)),
  /** The environment parameter's version rendered into the services, so a retry renders the same. */
  environmentVersion: z.optional(z.number().check(z.int(), z.minimum(1))),
  /**
   * Re-apply even when the spec already names these images (Docker's `ForceUpdate` counter): how
   * Gantry recovers from `rollback_paused`, where re-ordering the same image would be a no-op.
   */
  force: z._default(z.boolean(), false),
  policy: swarmPolicySchema,
});
export type SwarmOrder = z.infer<typeof swarmOrderSchema>;

/** What a swarm rollout is doing; the agent's `UpdateStatus.State` mapped, plus its own phases. */
export const swarmRolloutStates = [
  'accepted',
  'updating',
  'completed',
  'rollback_completed',
  'rollback_paused',
  'paused',
  'failed',
  'refused',
] as const;
export type SwarmRolloutState = (typeof swarmRolloutStates)[number];
/** States after which the agent does nothing more for that order: all but the two in progress. */
export const finalSwarmRolloutStates: readonly SwarmRolloutState[] = swarmRolloutStates.filter(
  (state) => state !== 'accepted' && state !== 'updating',
);

const failedTaskSchema = z.strictObject({
  taskId: z.string(),
  state: z.string(),
  error: z.optional(z.string()),
  exitCode: z.optional(z.number().check(z.int())),
  image: z.optional(z.string()),
});

/** One service as the agent sees it: what the spec says, what actually runs, and how its update went. */
export const swarmServiceReportSchema = z.strictObject({
  name: swarmServiceNameSchema,
  /** The image the service spec names now (after an automatic rollback: the old one). */
  specImage: z.optional(z.string()),
  /** Distinct images of the service's running tasks: the truth for drift and for judging. */
  runningImages: z.array(z.string()),
  /** Docker's `UpdateStatus.State`, when an update ran. */
  updateState: z.optional(z.string()),
  updateMessage: z.optional(z.string()),
  failedTasks: z._default(z.array(failedTaskSchema).check(z.maxLength(20)), []),
});

/** The detail of a `Swarm Rollout State Change` event, and the body of the status parameter. */
export const swarmRolloutReportSchema = z.strictObject({
  app: nameSchema,
  env: nameSchema,
  deploymentId: z.string(),
  state: z.enum(swarmRolloutStates),
  /** Why, in words a person reads: the refusal reason, the failing task's error. */
  reason: z.optional(z.string().check(z.maxLength(2_000))),
  services: z.array(swarmServiceReportSchema).check(z.maxLength(20)),
  /** The agent host that reported (its hostname). */
  agent: z.string(),
  reportedAt: z.iso.datetime(),
});
export type SwarmRolloutReport = z.infer<typeof swarmRolloutReportSchema>;
