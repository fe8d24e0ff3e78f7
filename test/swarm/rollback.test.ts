import { describe, expect, it } from 'vitest';
import { swarmDeploymentId } from '../../functions/src/swarm/order.ts';
import { judgeSwarmRollback, planSwarmRollback } from '../../functions/src/swarm/rollback.ts';
import { judgeSwarmReport, type SwarmVerdict } from '../../functions/src/swarm/verdict.ts';
import {
  deployOrder,
  executionArn,
  goodImage,
  lastGood,
  newImage,
  orderedAt,
  reportOf,
  serviceReport,
  target,
} from './fixtures.ts';

const base = { app: 'shop', env: 'prod', target, executionArn, orderedAt, lastGood };

/** The verdict of a rollout that did not deploy, as planSwarmRollback takes it. */
function finalVerdict(verdict: SwarmVerdict) {
  const final = finalOrThrow(verdict);
  if (final.status === 'deployed') throw new Error('not a failed rollout');
  return final;
}

describe('swarm rollback', () => {
  describe('planSwarmRollback', () => {
    it('orders nothing when Swarm rolled back to last-good itself (no second rollback)', () => {
      // Prepare
      const verdict = finalVerdict(
        judgeSwarmReport(reportOf('rollback_completed', {}, goodImage), deployOrder),
      );

      // Act
      const plan = planSwarmRollback({ ...base, verdict });

      // Assess
      expect(plan).toMatchObject({ action: 'none', reason: expect.stringContaining('rolled back by Swarm') });
    });

    it('orders nothing after a rollback by Swarm when no last good release was recorded', () => {
      // Prepare
      const verdict = finalVerdict(
        judgeSwarmReport(reportOf('rollback_completed', {}, goodImage), deployOrder),
      );

      // Act
      const plan = planSwarmRollback({ ...base, lastGood: undefined, verdict });

      // Assess
      expect(plan).toMatchObject({ action: 'none' });
    });

    it.each([
      [
        'still runs an older image beside last-good',
        { runningImages: [goodImage, `${goodImage.slice(0, -64)}${'c'.repeat(64)}`] },
      ],
      ['is missing from the report', undefined],
    ])('orders last-good after a rollback by Swarm when a service %s', (_, worker) => {
      // Prepare
      const services = [
        serviceReport('shop_web', goodImage),
        ...(worker === undefined ? [] : [serviceReport('shop_worker', goodImage, worker)]),
      ];
      const verdict = finalVerdict(
        judgeSwarmReport(reportOf('rollback_completed', { services }, goodImage), deployOrder),
      );

      // Act
      const plan = planSwarmRollback({ ...base, verdict });

      // Assess
      expect(plan).toMatchObject({ action: 'order', order: { services: lastGood } });
    });

    it('matches each service to its own last-good image when they differ', () => {
      // Prepare
      const workerGood = `${goodImage.slice(0, -64)}${'d'.repeat(64)}`;
      const perService = [
        { name: 'shop_web', image: goodImage },
        { name: 'shop_worker', image: workerGood },
      ];
      const services = [serviceReport('shop_web', goodImage), serviceReport('shop_worker', workerGood)];
      const verdict = finalVerdict(
        judgeSwarmReport(reportOf('rollback_completed', { services }), deployOrder),
      );

      // Act
      const plan = planSwarmRollback({ ...base, lastGood: perService, verdict });

      // Assess
      expect(plan).toMatchObject({ action: 'none' });
    });

    it('orders last-good when Swarm went back to a spec that is not the last good release', () => {
      // Prepare
      const older = `${goodImage.slice(0, -64)}${'c'.repeat(64)}`;
      const verdict = finalVerdict(judgeSwarmReport(reportOf('rollback_completed', {}, older), deployOrder));

      // Act
      const plan = planSwarmRollback({ ...base, verdict });

      // Assess
      expect(plan).toMatchObject({ action: 'order', order: { kind: 'rollback', services: lastGood } });
    });

    it('orders last-good for every service when one of two failed (all or nothing)', () => {
      // Prepare
      const verdict = finalVerdict(
        judgeSwarmReport(
          reportOf('failed', {
            services: [serviceReport('shop_web', newImage), serviceReport('shop_worker', goodImage)],
          }),
          deployOrder,
        ),
      );

      // Act
      const plan = planSwarmRollback({ ...base, verdict });

      // Assess
      expect(plan).toEqual({
        action: 'order',
        order: expect.objectContaining({
          kind: 'rollback',
          force: false,
          deploymentId: swarmDeploymentId(executionArn, 'rollback'),
          services: [
            { name: 'shop_web', image: goodImage },
            { name: 'shop_worker', image: goodImage },
          ],
        }),
      });
    });

    it('forces the last-good order after a paused rollback, since the spec may already name it', () => {
      // Prepare
      const verdict = finalVerdict(judgeSwarmReport(reportOf('rollback_paused', {}, goodImage), deployOrder));

      // Act
      const plan = planSwarmRollback({ ...base, verdict });

      // Assess
      expect(plan).toMatchObject({
        action: 'order',
        order: { force: true, deploymentId: swarmDeploymentId(executionArn, 'rollback', true) },
      });
    });

    it('orders nothing after a refused order: nothing changed', () => {
      // Prepare
      const verdict = finalVerdict(judgeSwarmReport(reportOf('refused', { services: [] }), deployOrder));

      // Act
      const plan = planSwarmRollback({ ...base, verdict });

      // Assess
      expect(plan).toMatchObject({ action: 'none', reason: expect.stringContaining('nothing changed') });
    });

    it('refuses with NoPreviousRelease when there is no last good release to order', () => {
      // Prepare
      const verdict = finalVerdict(judgeSwarmReport(reportOf('failed'), deployOrder));

      // Act
      const plan = () => planSwarmRollback({ ...base, lastGood: undefined, verdict });

      // Assess
      expect(plan).toThrow(expect.objectContaining({ name: 'NoPreviousRelease' }));
    });
  });

  describe('judgeSwarmRollback', () => {
    const rollbackOrder = (() => {
      const verdict = finalVerdict(judgeSwarmReport(reportOf('failed'), deployOrder));
      const plan = planSwarmRollback({ ...base, verdict });
      if (plan.action !== 'order') throw new Error('expected an order');
      return plan.order;
    })();
    const rollbackReport = (state: Parameters<typeof reportOf>[0], id = rollbackOrder.deploymentId) =>
      reportOf(state, { deploymentId: id }, goodImage);

    it('is done when every service runs last-good again', () => {
      // Prepare
      const verdict = judgeSwarmReport(rollbackReport('completed'), rollbackOrder);

      // Act
      const outcome = judgeSwarmRollback(rollbackOrder, finalOrThrow(verdict), orderedAt);

      // Assess
      expect(outcome).toEqual({ action: 'done' });
    });

    it('forces the rollback once when it paused', () => {
      // Prepare
      const verdict = judgeSwarmReport(rollbackReport('rollback_paused'), rollbackOrder);

      // Act
      const outcome = judgeSwarmRollback(rollbackOrder, finalOrThrow(verdict), '2026-12-03T12:05:00.000Z');

      // Assess
      expect(outcome).toEqual({
        action: 'force',
        order: {
          ...rollbackOrder,
          force: true,
          deploymentId: swarmDeploymentId(executionArn, 'rollback', true),
          orderedAt: '2026-12-03T12:05:00.000Z',
        },
      });
    });

    it('ends in RollbackFailed with the task states when the forced rollback paused too', () => {
      // Prepare
      const forced = {
        ...rollbackOrder,
        force: true,
        deploymentId: swarmDeploymentId(executionArn, 'rollback', true),
      };
      const report = reportOf(
        'rollback_paused',
        {
          deploymentId: forced.deploymentId,
          reason: 'rollback paused',
          services: [
            serviceReport('shop_web', goodImage, {
              updateState: 'rollback_paused',
              runningImages: [],
              failedTasks: [
                { taskId: 't-3', state: 'failed', exitCode: 137, error: 'task: non-zero exit (137)' },
              ],
            }),
          ],
        },
        goodImage,
      );
      const verdict = judgeSwarmReport(report, forced);

      // Act
      const judging = () => judgeSwarmRollback(forced, finalOrThrow(verdict), orderedAt);

      // Assess
      expect(judging).toThrow(
        expect.objectContaining({
          name: 'RollbackFailed',
          message: expect.stringMatching(
            /ended rollback_paused \(forced\): rollback paused; shop_web: rollback_paused, runs nothing; failed tasks t-3 failed exit 137: task: non-zero exit \(137\)$/,
          ),
        }),
      );
    });

    it('refuses to judge a deploy order as a rollback', () => {
      // Act
      const judging = () =>
        judgeSwarmRollback(
          deployOrder,
          finalOrThrow(judgeSwarmReport(reportOf('completed'), deployOrder)),
          orderedAt,
        );

      // Assess
      expect(judging).toThrow(TypeError);
    });

    it('ends in RollbackFailed when the rollback order failed', () => {
      // Prepare
      const verdict = judgeSwarmReport(rollbackReport('failed'), rollbackOrder);

      // Act
      const judging = () => judgeSwarmRollback(rollbackOrder, finalOrThrow(verdict), orderedAt);

      // Assess
      expect(judging).toThrow(
        expect.objectContaining({
          name: 'RollbackFailed',
          message: `putting shop/prod back on its last good release ended failed: the update failed; shop_web: no update state, runs ${goodImage} | shop_worker: no update state, runs ${goodImage}`,
        }),
      );
    });
  });
});

function finalOrThrow(verdict: SwarmVerdict) {
  if (verdict.status === 'ignored' || verdict.status === 'in_progress') {
    throw new Error(`not final: ${verdict.status}`);
  }
  return verdict;
}
