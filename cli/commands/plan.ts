import { dryRun } from '../../functions/src/dry-run.ts';
import type { CliContext } from '../context.ts';
import { lineDiff } from '../diff.ts';
import { appEnvArguments } from '../names.ts';
import { type ExitCode, exitCodes, type Output, table } from '../output.ts';
import { deployRequest } from './deploy.ts';

/**
 * `gantry plan <app> <env> <image>`: a dry run of the deploy with nothing written: the change the
 * target would make (the task-definition diff on ECS) and a verify list. Exits 1 when a check
 * fails. AWS calls on ECS: 1 GetParameter (config), 1 DescribeServices (tag), 1 GetParameter
 * (release), 1 DescribeImages, 1 DescribeServices + 1 DescribeTaskDefinition (preview), 1
 * GetParameter per Parameter Store secret, then the 4 reads of `gantry status`.
 */
export async function planCommand(
  context: CliContext,
  output: Output,
  appText: string,
  envText: string,
  image: string,
  options: { taskRoles: string; executionRoles: string },
): Promise<ExitCode> {
  const { app, env } = appEnvArguments(appText, envText);
  const { requestedAt: _, source: __, ...request } = deployRequest({ app, env, image });
  const result = await dryRun(
    {
      ssm: context.clients.ssm,
      ecr: context.clients.ecr,
      targets: context.targets,
      table: context.table(),
      parameterPrefix: context.parameterPrefix,
      stateMachineArn: context.stateMachineArn(),
      passableRoles: { task: options.taskRoles, execution: options.executionRoles },
      now: () => new Date(),
    },
    request,
  );
  const failed = result.checks.some((check) => check.status === 'fail');
  const diff = result.preview
    ? lineDiff(JSON.stringify(result.preview.before, null, 2), JSON.stringify(result.preview.after, null, 2))
    : [];
  if (context.json) {
    output.out(
      JSON.stringify(
        {
          wouldChange: result.preview?.change ?? null,
          diff,
          checks: result.checks,
          plan: result.plan ?? null,
        },
        null,
        2,
      ),
    );
    return failed ? exitCodes.failed : exitCodes.ok;
  }
  output.out(
    `plan for ${app}/${env}: ${image}${result.plan ? ` → ${result.plan.desired.image}` : ''} (dry run: nothing written)`,
  );
  if (result.preview) {
    output.out(`\nwould: ${result.preview.change}`);
    output.out(diff.length > 0 ? diff.join('\n') : '  (no difference: the target runs this already)');
  }
  output.out('\nverify:');
  output.out(
    table(
      ['', 'CHECK', 'DETAIL'],
      result.checks.map((check) => [
        check.status === 'fail' ? 'FAIL' : check.status,
        check.check,
        check.detail,
      ]),
    ),
  );
  return failed ? exitCodes.failed : exitCodes.ok;
}
