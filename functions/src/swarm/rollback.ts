/**
 * Putting a swarm back on its last good release. Gantry re-orders the recorded last-good images
 * rather than `docker service rollback`, which goes one spec back only (the previous spec may be
 * a failed release, or Swarm's own rollback may already have used it up).
 */
import { NoPreviousRelease, RollbackFailed } from '../errors.ts';
import type { SwarmOrder } from './contract.ts';
import { buildSwarmOrder, type SwarmOrderInput, swarmDeploymentId } from './order.ts';
import type { SwarmForensics, SwarmVerdict } from './verdict.ts';

/** A verdict that ends a rollout: what a rollback decision starts from. */
export type FinalSwarmVerdict = Exclude<SwarmVerdict, { status: 'ignored' } | { status: 'in_progress' }>;

/** The services' last good images, per service, from the recorded release; undefined when none was recorded. */
export type LastGoodServices = readonly { readonly name: string; readonly image: string }[];

export interface SwarmRollbackInput extends Omit<SwarmOrderInput, 'kind' | 'services' | 'force'> {
  /** How the deploy ended. */
  readonly verdict: Exclude<FinalSwarmVerdict, { status: 'deployed' }>;
  readonly lastGood: LastGoodServices | undefined;
}

export type SwarmRollbackPlan =
  | { readonly action: 'none'; readonly reason: string }
  | { readonly action: 'order'; readonly order: SwarmOrder };

/**
 * What to do after a deploy that did not deploy:
 * - refused by the agent: nothing changed, nothing to put back;
 * - rolled back by Swarm itself (`failure_action: rollback`), every service back on last-good:
 *   record it and order nothing, so nothing is rolled back twice;
 * - `rollback_paused`: order last-good with `force`, because the spec may already name those
 *   images and re-ordering the same image is a no-op unless the update is forced (`ForceUpdate`);
 * - any other failure (all or nothing): order last-good for every service.
 */
export function planSwarmRollback(input: SwarmRollbackInput): SwarmRollbackPlan {
  const { verdict, lastGood } = input;
  if (verdict.status === 'failed' && !verdict.changed) {
    return { action: 'none', reason: `nothing changed: ${verdict.reason}` };
  }
  if (verdict.status === 'rolled_back_by_swarm') {
    const elsewhere = lastGood === undefined ? [] : notRunning(verdict.forensics, lastGood);
    if (elsewhere.length === 0) {
      return { action: 'none', reason: `rolled back by Swarm: ${verdict.reason}` };
    }
    // Swarm went one spec back, which was not the last good release: Gantry finishes the job.
  }
  if (lastGood === undefined) {
    throw new NoPreviousRelease(
      `${input.app}/${input.env} has no recorded last good release to put back (${verdict.status})`,
    );
  }
  const { verdict: _verdict, lastGood: _lastGood, ...orderInput } = input;
  return {
    action: 'order',
    order: buildSwarmOrder({
      ...orderInput,
      kind: 'rollback',
      services: lastGood,
      force: verdict.status === 'rollback_paused',
    }),
  };
}

export type SwarmRollbackOutcome =
  | { readonly action: 'done' }
  | { readonly action: 'force'; readonly order: SwarmOrder };

/**
 * How a rollback order ended: back on last-good, or forced once more when it paused (and was not
 * forced yet), else `RollbackFailed` naming every service's state and its failed tasks.
 */
export function judgeSwarmRollback(
  order: SwarmOrder,
  verdict: FinalSwarmVerdict,
  orderedAt: string,
): SwarmRollbackOutcome {
  if (order.kind !== 'rollback') throw new TypeError('judgeSwarmRollback takes a rollback order');
  if (verdict.status === 'deployed') return { action: 'done' };
  if (verdict.status === 'rollback_paused' && !order.force) {
    return {
      action: 'force',
      order: {
        ...order,
        deploymentId: swarmDeploymentId(order.executionArn, 'rollback', true),
        orderedAt,
        force: true,
      },
    };
  }
  const forensics = 'forensics' in verdict ? describeForensics(verdict.forensics) : '';
  throw new RollbackFailed(
    `putting ${order.app}/${order.env} back on its last good release ended ${verdict.status}${order.force ? ' (forced)' : ''}: ${verdict.reason}${forensics === '' ? '' : `; ${forensics}`}`.slice(
      0,
      4_000,
    ),
  );
}

function notRunning(forensics: SwarmForensics, lastGood: LastGoodServices): string[] {
  return lastGood
    .filter((service) => {
      const seen = forensics.find((s) => s.name === service.name);
      return seen === undefined || seen.runningImages.length !== 1 || seen.runningImages[0] !== service.image;
    })
    .map((service) => service.name);
}

/** Each service's state and failed tasks, as a person reading the failure needs them. */
export function describeForensics(forensics: SwarmForensics): string {
  return forensics
    .map((service) => {
      const tasks = service.failedTasks
        .map(
          (task) =>
            `${task.taskId} ${task.state}${task.exitCode === undefined ? '' : ` exit ${task.exitCode}`}${task.error === undefined ? '' : `: ${task.error}`}`,
        )
        .join(', ');
      return `${service.name}: ${service.updateState ?? 'no update state'}, runs ${service.runningImages.join(', ') || 'nothing'}${tasks === '' ? '' : `; failed tasks ${tasks}`}`;
    })
    .join(' | ');
}
