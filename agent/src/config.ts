/**
 * The agent's local config: which app/envs this swarm hosts, where its orders and wake-ups come
 * from, and which images it may run. Read once at start, validated, unknown keys refused (a typo
 * in an allow-list must not silently widen or empty it).
 */
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { nameSchema } from '../../functions/src/config/schema.ts';
import { AgentConfigInvalid } from '../../functions/src/errors.ts';
import { swarmServiceNameSchema } from '../../functions/src/swarm/contract.ts';

/** ECR registry hosts: `<account>.dkr.ecr.<region>.amazonaws.com` (Amazon ECR User Guide, "Private registry concepts"). */
const ecrRegistryPattern = /^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

export const agentConfigSchema = z.strictObject({
  /** Parameter Store prefix of Gantry's parameters (`/gantry`): orders live at `<prefix>/<app>/<env>/order`. */
  parameterPrefix: z
    .string()
    .regex(
      /^\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/,
      'a parameter path such as /gantry, without trailing slash',
    )
    .default('/gantry'),
  /** The swarm's wake-up queue (an SQS queue URL). */
  queueUrl: z.url(),
  /** The Gantry event bus the agent reports to (name or ARN). */
  eventBusName: z.string().min(1),
  /** AWS region; default: the SDK's default chain (AWS_REGION, profile). */
  region: z.string().min(1).optional(),
  /** The app/envs this swarm hosts and the swarm services each may change. */
  targets: z
    .array(
      z.strictObject({
        app: nameSchema,
        env: nameSchema,
        services: z.array(swarmServiceNameSchema).min(1),
      }),
    )
    .min(1),
  /**
   * Registries and repositories orders may name. `auth: ecr` logs in with ECR's
   * GetAuthorizationToken (default for ECR hosts); `none` pulls anonymously.
   */
  registries: z
    .array(
      z.strictObject({
        registry: z.string().regex(/^[a-z0-9.-]+(:[0-9]+)?$/, 'a registry host[:port]'),
        /** Exact repository names, or `*` for every repository of the registry. */
        repositories: z.array(z.string().min(1)).min(1),
        auth: z.enum(['ecr', 'none']).optional(),
      }),
    )
    .min(1),
  /** Every this many seconds the agent re-reads its orders, so a lost wake-up only delays (default 5 min). */
  backstopSeconds: z.number().int().min(1).max(3_600).default(300),
  /** How long the agent follows one rollout before reporting it `failed` (default 1 h). */
  watchTimeoutSeconds: z.number().int().min(10).max(86_400).default(3_600),
  /** How often the agent looks at a rollout it follows (local Docker socket, no AWS call). */
  watchIntervalMs: z.number().int().min(100).max(60_000).default(1_000),
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentTarget = AgentConfig['targets'][number];
export type RegistryRule = AgentConfig['registries'][number];

/** Whether images from this registry rule are pulled with ECR credentials. */
export function usesEcrAuth(rule: RegistryRule): boolean {
  return rule.auth === undefined ? ecrRegistryPattern.test(rule.registry) : rule.auth === 'ecr';
}

/** Validates a parsed config; throws AgentConfigInvalid naming each bad field. */
export function parseAgentConfig(raw: unknown, source = 'agent config'): AgentConfig {
  const result = agentConfigSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new AgentConfigInvalid(`${source} is invalid: ${issues.join('; ')}`);
  }
  const seen = new Set<string>();
  for (const target of result.data.targets) {
    const key = `${target.app}/${target.env}`;
    if (seen.has(key)) throw new AgentConfigInvalid(`${source} is invalid: targets: ${key} is listed twice`);
    seen.add(key);
  }
  return result.data;
}

/** Reads and validates the config file. */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AgentConfigInvalid(`cannot read the agent config ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new AgentConfigInvalid(`the agent config ${path} is not JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseAgentConfig(raw, path);
}
