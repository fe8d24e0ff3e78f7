/**
 * The `swarm` deploy target in an app/env's config: which swarm to wake, which of its services run
 * the app's image, where the app's hosts are in Lightsail, and the update/rollback policy the agent
 * applies. {@link swarmTargetSchema} is one member of the config's target union
 * (config/schema.ts).
 */
import * as z from '../zod.ts';
import { swarmPolicySchema, swarmServiceNameSchema } from './contract.ts';

/** SQS queue names: 1-80 alphanumerics, hyphens, underscores; `.fifo` only for FIFO queues (API_CreateQueue). */
const queueNameSchema = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_-]{1,80}$/, 'an SQS standard queue name (1-80 letters, digits, - or _)'));

/** A registry host with an optional port, as the contract's pinned images spell it. */
const registryHostSchema = z
  .string()
  .check(
    z.regex(
      /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/,
      'a registry host[:port]',
    ),
  );

/**
 * Lightsail tag keys take at most 128 characters and values at most 256 (SDK model,
 * @aws-sdk/client-lightsail `models_0.d.ts` `Tag`: "Constraints: Tag keys accept a maximum of 128…").
 */
const instanceTagSchema = z.strictObject({
  key: z.string().check(z.minLength(1), z.maxLength(128)),
  value: z.string().check(z.maxLength(256)),
});

const loadBalancerSchema = z.strictObject({
  /** The Lightsail load balancer in front of the swarm (GetLoadBalancer `loadBalancerName`). */
  name: z.string().check(z.minLength(1)),
  /**
   * How long the gate watches the load balancer once the swarm converged: no instance may turn
   * unhealthy meanwhile, and every one must be healthy at its end (`lightsail.ts`,
   * `checkHealthGate`). At most an hour: Gantry's bound, so a gate cannot hold the lock for long.
   */
  bakeSeconds: z.number().check(z.int(), z.minimum(0), z.maximum(3_600)),
});

export const swarmTargetSchema = z.strictObject({
  type: z.literal('swarm'),
  /** The swarm's wake-up queue (a name: the URL is asked of SQS, so it is right for any endpoint). */
  queueName: queueNameSchema,
  /** The swarm services of the app's stack; each runs the app's repository image. */
  services: z.array(z.strictObject({ name: swarmServiceNameSchema })).check(
    z.minLength(1),
    z.maxLength(20),
    z.refine(
      (services) => new Set(services.map((service) => service.name)).size === services.length,
      'service names must be unique',
    ),
  ),
  /**
   * A registry other than the account's ECR (how CI uses a local one). The agent's own allow-list
   * must contain it too: the agent refuses images from registries it was not told about.
   */
  registry: z.optional(registryHostSchema),
  lightsail: z.strictObject({
    /** The tag that marks the app/env's swarm hosts (GetInstances has no filter: Gantry filters). */
    instanceTag: instanceTagSchema,
    loadBalancer: z.optional(loadBalancerSchema),
  }),
  policy: swarmPolicySchema,
});

export type SwarmTarget = z.infer<typeof swarmTargetSchema>;
