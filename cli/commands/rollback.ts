import { randomBytes } from 'node:crypto';
import { resolveDeployPlan } from '../../functions/src/deploy-plan.ts';
import { displayName } from '../../functions/src/status.ts';
import type { CliContext } from '../context.ts';
import { appEnvArguments } from '../names.ts';
import { type ExitCode, type Output, UsageError } from '../output.ts';
import { deployRequest, pollSecondsOf, startAndFollow, type WaitOptions } from './deploy.ts';

/**
 * `gantry rollback <app> <env> [--to <release>] --reason …`: back to the release recorded before the
 * live one, or to any release of the history (a tag, a digest or its first 12+ hex digits, the
 * execution that recorded it). The same ResolveConfig the state machine runs checks it first, with
 * reads only, so a release that cannot run any more (its image deleted from ECR, its revision
 * deregistered) is refused here with the reason, before anything starts; the execution checks
 * again. AWS calls: the reads of ResolveConfig (config, target tag, live release, the history
 * pages up to the release, DescribeImages, the revision's state), 1 StartExecution, and with
 * --wait what `deploy --wait` costs.
 */
export async function rollbackCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
  options: WaitOptions & { to?: string; reason: string },
): Promise<ExitCode> {
  const { app, env } = appEnvArguments(appText, envText);
  const pollSeconds = pollSecondsOf(options.pollSeconds);
  if (options.reason.trim() === '') throw new UsageError('--reason must say why');
  const request = deployRequest({
    app,
    env,
    rollback: true,
    reason: options.reason,
    ...(options.to !== undefined && { to: options.to }),
  });
  const stateMachineArn = context.stateMachineArn();
  const plan = await resolveDeployPlan(
    {
      ssm: context.clients.ssm,
      ecr: context.clients.ecr,
      targets: context.targets,
      table: context.table(),
      parameterPrefix: context.parameterPrefix,
    },
    {
      request,
      // Names an execution that never starts: ResolveConfig reads only its region and account.
      executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:gantry-rollback-check`,
      startedAt: new Date().toISOString(),
    },
  );
  output.err(
    `rolling ${app}/${env} back from ${plan.live ? displayName(plan.live) : 'an unrecorded release'} to ${displayName(plan.desired)} (${plan.desired.image})`,
  );
  const name = `cli-rollback-${app}-${env}`.slice(0, 67).concat('-', randomBytes(6).toString('hex'));
  return startAndFollow(context, output, request, name, { ...options, pollSeconds });
}
