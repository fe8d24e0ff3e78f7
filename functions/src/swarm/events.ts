/**
 * Resuming an execution from the host agent's reports. The agent puts a `Swarm Rollout State
 * Change` event (`source: gantry.agent`) on the Gantry bus at each phase; the execution waiting on
 * that deployment id is resumed once the report is final, exactly as onEcsEvent does for ECS.
 * Events are hints, delivered at least once and possibly late: a report that does not apply is
 * ignored with a reason, never thrown (Lambda retries a failed asynchronous invocation twice, for
 * nothing: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
 */
import { readRolloutWait, settleRollout, type WaitDependencies } from '../coordination/waits.ts';
import { InputInvalid } from '../errors.ts';
import { judgeSwarmVerdict } from '../targets/swarm.ts';
import * as z from '../zod.ts';
import { agentEventSource, swarmOrderSchema, swarmRolloutDetailType } from './contract.ts';
import { judgeSwarmReport } from './verdict.ts';

/**
 * What WaitForRollout parks beside the token for a swarm rollout (targets/swarm.ts
 * `parkedDetails`): the order's app/env and the image each service must run.
 */
export const swarmRolloutWaitSchema = z.object({
  taskToken: z.string(),
  deploymentId: z.string(),
  timeoutSeconds: z.optional(z.number()),
  app: z.string(),
  env: z.string(),
  services: swarmOrderSchema.shape.services,
});

export type SwarmEventOutcome =
  | { action: 'ignored'; why: string }
  | { action: 'resumed'; deploymentId: string; outcome: 'completed' | 'failed'; error?: string }
  | { action: 'already-resumed'; deploymentId: string };

const envelopeSchema = z.looseObject({
  source: z.literal(agentEventSource),
  'detail-type': z.string(),
  detail: z.optional(z.unknown()),
});

/**
 * Wakes the execution waiting on the report's deployment once the report is final. Anything that
 * is not an agent event at all is a wiring mistake: `InputInvalid`.
 */
export async function handleSwarmEvent(deps: WaitDependencies, raw: unknown): Promise<SwarmEventOutcome> {
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) throw new InputInvalid(`not an EventBridge event from ${agentEventSource}`);
  const detailType = envelope.data['detail-type'];
  if (detailType !== swarmRolloutDetailType) {
    return { action: 'ignored', why: `${detailType} is not a ${swarmRolloutDetailType}` };
  }
  const detail = envelope.data.detail;
  const deploymentId = z.object({ deploymentId: z.string() }).safeParse(detail);
  if (!deploymentId.success) return { action: 'ignored', why: 'the report names no deployment' };
  const id = deploymentId.data.deploymentId;
  const wait = await readRolloutWait(deps, id, swarmRolloutWaitSchema);
  if (!wait) return { action: 'ignored', why: `no execution waits on deployment ${id}` };

  const verdict = judgeSwarmReport(detail, wait);
  if (verdict.status === 'ignored') return { action: 'ignored', why: verdict.why };
  if (verdict.status === 'in_progress') {
    return { action: 'ignored', why: `deployment ${id} is still ${verdict.state}` };
  }
  const judgement = judgeSwarmVerdict(id, verdict);
  // A swarm has no gates: only a settled judgement resumes the wait.
  if (judgement.outcome !== 'completed' && judgement.outcome !== 'failed') {
    return { action: 'ignored', why: 'rollout still in progress' };
  }
  const resumed = await settleRollout(deps, wait, judgement);
  if (!resumed) return { action: 'already-resumed', deploymentId: id };
  return {
    action: 'resumed',
    deploymentId: id,
    outcome: judgement.outcome,
    ...(judgement.outcome === 'failed' && { error: judgement.error }),
  };
}
