import { GetParameterCommand, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { judgeSwarmReport, verdictFromStatus } from '../../functions/src/swarm/verdict.ts';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';
import { deployOrder, goodImage, newImage, reportOf, serviceReport } from './fixtures.ts';

const crashed = {
  taskId: 't-9',
  state: 'failed',
  error: 'task: non-zero exit (1)',
  exitCode: 1,
  image: newImage,
};

describe('swarm verdict', () => {
  describe('judgeSwarmReport', () => {
    it.each(['accepted', 'updating'] as const)('keeps waiting while the agent reports %s', (state) => {
      // Act
      const verdict = judgeSwarmReport(reportOf(state), deployOrder);

      // Assess
      expect(verdict).toEqual({ status: 'in_progress', state });
    });

    it('calls it deployed when every service runs exactly its ordered image', () => {
      // Act
      const verdict = judgeSwarmReport(reportOf('completed'), deployOrder);

      // Assess
      expect(verdict).toMatchObject({ status: 'deployed', report: { state: 'completed' } });
    });

    it('fails a completed report when a service still runs another image (the digest decides)', () => {
      // Prepare
      const report = reportOf('completed', {
        services: [
          serviceReport('shop_web', newImage),
          serviceReport('shop_worker', newImage, { runningImages: [newImage, goodImage] }),
        ],
      });

      // Act
      const verdict = judgeSwarmReport(report, deployOrder);

      // Assess
      expect(verdict).toMatchObject({
        status: 'failed',
        changed: true,
        reason: expect.stringContaining(`shop_worker runs ${newImage}, ${goodImage}`),
      });
    });

    it('fails a completed report that leaves out an ordered service (all or nothing)', () => {
      // Act
      const verdict = judgeSwarmReport(
        reportOf('completed', { services: [serviceReport('shop_web', newImage)] }),
        deployOrder,
      );

      // Assess
      expect(verdict).toMatchObject({
        status: 'failed',
        reason: expect.stringContaining('shop_worker is missing'),
      });
    });

    it('records a rollback Swarm completed itself, with the failed tasks as forensics', () => {
      // Prepare
      const report = reportOf(
        'rollback_completed',
        {
          reason: 'shop_web: update paused due to failure or early termination of task t-9',
          services: [
            serviceReport('shop_web', goodImage, {
              updateState: 'rollback_completed',
              failedTasks: [crashed],
            }),
            serviceReport('shop_worker', goodImage, { updateState: 'rollback_completed' }),
          ],
        },
        goodImage,
      );

      // Act
      const verdict = judgeSwarmReport(report, deployOrder);

      // Assess
      expect(verdict).toEqual({
        status: 'rolled_back_by_swarm',
        reason: 'shop_web: update paused due to failure or early termination of task t-9',
        forensics: report.services,
      });
    });

    it('fails, for Gantry to roll back, when Swarm rolled back one service but another runs the new image', () => {
      // Prepare
      const report = reportOf('rollback_completed', {
        services: [
          serviceReport('shop_web', goodImage, { updateState: 'rollback_completed' }),
          serviceReport('shop_worker', newImage, { updateState: 'completed' }),
        ],
      });

      // Act
      const verdict = judgeSwarmReport(report, deployOrder);

      // Assess
      expect(verdict).toMatchObject({
        status: 'failed',
        changed: true,
        reason: expect.stringContaining('shop_worker run the ordered image'),
      });
    });

    it('names a service Swarm left on the new image because the report has it running there', () => {
      // Prepare: the worker is missing from the report; only what is reported running counts.
      const report = reportOf('rollback_completed', {
        reason: 'shop_web: update rolled back',
        services: [serviceReport('shop_web', newImage, { runningImages: [goodImage, newImage] })],
      });

      // Act
      const verdict = judgeSwarmReport(report, deployOrder);

      // Assess
      expect(verdict).toMatchObject({
        status: 'failed',
        reason:
          'Swarm rolled back part of the order, but shop_web run the ordered image: shop_web: update rolled back',
      });
    });

    it('fails a completed report where a service runs nothing', () => {
      // Prepare
      const report = reportOf('completed', {
        services: [
          serviceReport('shop_web', newImage),
          serviceReport('shop_worker', newImage, { runningImages: [] }),
        ],
      });

      // Act
      const verdict = judgeSwarmReport(report, deployOrder);

      // Assess
      expect(verdict).toMatchObject({
        status: 'failed',
        reason: 'reported completed, but shop_worker runs nothing',
      });
    });

    it('tells a paused rollback apart from a clean one', () => {
      // Act
      const verdict = judgeSwarmReport(
        reportOf('rollback_paused', { reason: 'rollback paused' }),
        deployOrder,
      );

      // Assess
      expect(verdict).toMatchObject({ status: 'rollback_paused', reason: 'rollback paused' });
    });

    it('fails a refused order as one that changed nothing', () => {
      // Act
      const verdict = judgeSwarmReport(
        reportOf('refused', { services: [], reason: 'images outside this agent registry allow-list' }),
        deployOrder,
      );

      // Assess
      expect(verdict).toEqual({
        status: 'failed',
        state: 'refused',
        changed: false,
        reason: 'images outside this agent registry allow-list',
        forensics: [],
      });
    });

    it.each(['paused', 'failed'] as const)('fails a %s update as one that changed the swarm', (state) => {
      // Prepare
      const services = [serviceReport('shop_web', newImage, { failedTasks: [crashed] })];

      // Act
      const verdict = judgeSwarmReport(reportOf(state, { services }), deployOrder);

      // Assess
      expect(verdict).toEqual({
        status: 'failed',
        state,
        changed: true,
        reason: `the update ${state}`,
        forensics: [{ ...services[0], failedTasks: [crashed] }],
      });
    });

    it('judges by state even when every task exited 0 (docker/cli#6752)', () => {
      // Prepare: Swarm rolled back, and the CLI would have said success.
      const report = reportOf('rollback_completed', {}, goodImage);

      // Act
      const verdict = judgeSwarmReport(report, deployOrder);

      // Assess
      expect(verdict.status).toBe('rolled_back_by_swarm');
    });

    it.each([
      ['another deployment', reportOf('completed', { deploymentId: 'deploy-0000000000' }), /not deploy-/],
      ['another env', reportOf('completed', { env: 'staging' }), /shop\/staging, not shop\/prod/],
      ['another app', reportOf('completed', { app: 'blog' }), /blog\/prod, not shop\/prod/],
      ['a malformed detail', { ...reportOf('completed'), state: 'exploded' }, /malformed report: state/],
      ['no detail', undefined, /malformed report/],
    ])('ignores a report for %s, saying why', (_, detail, why) => {
      // Act
      const verdict = judgeSwarmReport(detail, deployOrder);

      // Assess
      expect(verdict).toMatchObject({ status: 'ignored', why: expect.stringMatching(why) });
    });
  });

  describe('verdictFromStatus (the timeout path)', () => {
    let emulator: Emulator;
    let ssm: SSMClient;
    const put = (value: string) =>
      ssm.send(
        new PutParameterCommand({
          Name: '/gantry/shop/prod/status',
          Value: value,
          Type: 'String',
          Overwrite: true,
        }),
      );

    beforeEach(async () => {
      emulator = await startEmulator();
      ssm = new SSMClient(emulator.clientConfig);
    });
    afterEach(async () => {
      ssm.destroy();
      await emulator.close();
    });

    it('decides as the lost event would have from a final status for this order', async () => {
      // Prepare
      await put(JSON.stringify(reportOf('rollback_completed', {}, goodImage)));

      // Act
      const verdict = await verdictFromStatus(ssm, '/gantry', deployOrder);

      // Assess
      expect(verdict.status).toBe('rolled_back_by_swarm');
    });

    it('times out with what the agent last said while it is still updating', async () => {
      // Prepare
      await put(JSON.stringify(reportOf('updating')));

      // Act
      const verdict = await verdictFromStatus(ssm, '/gantry', deployOrder);

      // Assess
      expect(verdict).toEqual({
        status: 'timed_out',
        lastReport: 'still updating when the deploy timed out',
      });
    });

    it('times out when the status is about an older deployment', async () => {
      // Prepare
      await put(JSON.stringify(reportOf('completed', { deploymentId: 'deploy-older-000' })));

      // Act
      const verdict = await verdictFromStatus(ssm, '/gantry', deployOrder);

      // Assess
      expect(verdict).toMatchObject({
        status: 'timed_out',
        lastReport: expect.stringContaining('deploy-older-000'),
      });
    });

    it('times out when the status parameter is not JSON', async () => {
      // Prepare
      await put('not json');

      // Act
      const verdict = await verdictFromStatus(ssm, '/gantry', deployOrder);

      // Assess
      expect(verdict).toEqual({ status: 'timed_out', lastReport: 'the status parameter is not JSON' });
    });

    it('times out when the agent never wrote a status', async () => {
      // Act
      const verdict = await verdictFromStatus(ssm, '/gantry', deployOrder);

      // Assess
      expect(verdict).toEqual({ status: 'timed_out', lastReport: 'the agent never wrote a status' });
    });
  });

  describe('verdictFromStatus (mocked client)', () => {
    let ssm: AwsClientStub<SSMClient>;
    beforeEach(() => {
      ssm = mockClient(SSMClient);
    });
    afterEach(() => {
      ssm.restore();
    });

    it('reads the status parameter of the order app/env, and keeps throttling retryable', async () => {
      // Prepare
      ssm
        .on(GetParameterCommand)
        .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
        .rejects(new ParameterNotFound({ message: 'none', $metadata: {} }));

      // Act
      const throttled = verdictFromStatus(new SSMClient({}), '/gantry', deployOrder);
      const missing = verdictFromStatus(new SSMClient({}), '/gantry', deployOrder);

      // Assess
      await expect(throttled).rejects.toMatchObject({ name: 'TransientAwsError' });
      await expect(missing).resolves.toMatchObject({ status: 'timed_out' });
      expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: '/gantry/shop/prod/status' });
    });
  });
});
