import { Command, CommanderError, Option } from 'commander';
import { configGetCommand, configPutCommand, configValidateCommand } from './commands/config.ts';
import { deployCommand } from './commands/deploy.ts';
import { historyCommand } from './commands/history.ts';
import { planCommand } from './commands/plan.ts';
import { rollbackCommand } from './commands/rollback.ts';
import { statusCommand } from './commands/status.ts';
import { whyCommand } from './commands/why.ts';
import { type ContextHooks, createContext, type GlobalOptions } from './context.ts';
import { describeFailure, type ExitCode, exitCodes, type Output, processOutput } from './output.ts';

const exitCodeHelp = `
Exit codes:
  0    done (a deploy or rollback with --wait ended Deployed)
  1    ran, and the outcome is a failure (rolled back, superseded, blockers found, put declined)
  2    bad input: nothing was written
  3    refused: what the command needs is missing or may not be used; nothing was written
  4    AWS or the endpoint failed (unreachable, access denied, throttled)
  130  interrupted while waiting; the execution goes on`;

/**
 * The `gantry` program. Each action returns its exit code; `run` maps anything thrown to one line
 * and a code (output.ts), so no command calls process.exit itself.
 */
export function buildProgram(
  output: Output,
  env: NodeJS.ProcessEnv,
  setCode: (code: ExitCode) => void,
  hooks: ContextHooks = {},
): Command {
  const program = new Command('gantry')
    .description('Operate Gantry deployments: status, history, deploy, rollback, plan, why, config')
    .addOption(new Option('--region <region>', 'AWS region (default: the SDK chain, AWS_REGION)'))
    .addOption(new Option('--profile <profile>', 'AWS shared-config profile'))
    .addOption(
      new Option('--endpoint <url>', 'AWS endpoint (LocalStack, the sandbox); AWS_ENDPOINT_URL works too'),
    )
    .addOption(
      new Option('--sandbox', 'use the local sandbox (npm run sandbox -- serve) at its default endpoint'),
    )
    .addOption(new Option('--json', 'print JSON for scripts instead of tables'))
    .addOption(
      new Option('--prefix <path>', 'Parameter Store prefix (GANTRY_PARAMETER_PREFIX, default /gantry)'),
    )
    .addOption(new Option('--table <name>', 'coordination table (GANTRY_COORDINATION_TABLE)'))
    .addOption(new Option('--state-machine <arn>', 'deploy state machine ARN (GANTRY_STATE_MACHINE_ARN)'))
    .addHelpText('after', exitCodeHelp)
    .showHelpAfterError('(gantry --help lists commands and options)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.out(text.trimEnd()),
      writeErr: (text) => output.err(text.trimEnd()),
    });

  const action =
    <A extends unknown[]>(
      handler: (context: ReturnType<typeof createContext>, ...args: A) => Promise<ExitCode>,
    ) =>
    async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const context = createContext(command.optsWithGlobals<GlobalOptions>(), env, hooks);
      setCode(await handler(context, ...(args.slice(0, -1) as A)));
    };

  program
    .command('status')
    .description('what runs per app/env, the last attempt and its cause, who deploys or waits now')
    .argument('[app]')
    .argument('[env]')
    .action(
      action((context, app: string | undefined, envName: string | undefined) =>
        statusCommand(context, output, app, envName),
      ),
    );

  program
    .command('history')
    .description('releases and rollbacks of one app/env, newest first')
    .argument('<app>')
    .argument('<env>')
    .option('--limit <n>', 'how many records', '20')
    .action(
      action((context, app: string, envName: string, options: { limit: string }) =>
        historyCommand(context, output, app, envName, options),
      ),
    );

  const deploy = program
    .command('deploy')
    .description('start a deploy of an image (repo:tag or repo@sha256:…)')
    .argument('<app>')
    .argument('<env>')
    .argument('<image>')
    .option('--reason <text>', 'why, kept in the release record');
  withWaitOptions(deploy).action(
    action(
      (
        context,
        app: string,
        envName: string,
        image: string,
        options: { wait?: boolean; reason?: string; pollSeconds: string },
      ) => deployCommand(context, output, app, envName, image, options),
    ),
  );

  const rollback = program
    .command('rollback')
    .description('back to the previous release, or --to any release of the history')
    .argument('<app>')
    .argument('<env>')
    .option(
      '--to <release>',
      'a tag, a digest (or its first 12+ hex digits), or the execution that recorded it',
    )
    .requiredOption('--reason <text>', 'why: kept in the release record and the events');
  withWaitOptions(rollback).action(
    action(
      (
        context,
        app: string,
        envName: string,
        options: { to?: string; reason: string; wait?: boolean; pollSeconds: string },
      ) => rollbackCommand(context, output, app, envName, options),
    ),
  );

  program
    .command('plan')
    .description('dry run: the change a deploy would make and a verify list; nothing is written')
    .argument('<app>')
    .argument('<env>')
    .argument('<image>')
    .option('--task-roles <pattern>', "task roles Gantry may pass (the stack's TaskRoleNames)", '*-task')
    .option(
      '--execution-roles <pattern>',
      "execution roles Gantry may pass (the stack's ExecutionRoleNames)",
      '*-execution',
    )
    .action(
      action(
        (
          context,
          app: string,
          envName: string,
          image: string,
          options: { taskRoles: string; executionRoles: string },
        ) => planCommand(context, output, app, envName, image, options),
      ),
    );

  program
    .command('why')
    .description('forensics of the last failure (or of one execution): stopped tasks, exit codes, the event')
    .argument('<app>')
    .argument('<env>')
    .argument('[execution]', 'execution name or ARN (default: the last rollback in the history)')
    .action(
      action((context, app: string, envName: string, execution: string | undefined) =>
        whyCommand(context, output, app, envName, execution),
      ),
    );

  const config = program.command('config').description('schema-checked config of one app/env');
  config
    .command('validate')
    .description('check a config file (no AWS call), or the stored config')
    .argument('<app>')
    .argument('<env>')
    .argument('[file]')
    .action(
      action((context, app: string, envName: string, file: string | undefined) =>
        configValidateCommand(context, output, app, envName, file),
      ),
    );
  config
    .command('get')
    .description('print the stored config')
    .argument('<app>')
    .argument('<env>')
    .action(
      action((context, app: string, envName: string) => configGetCommand(context, output, app, envName)),
    );
  config
    .command('put')
    .description('validate a file, show the diff, write it once confirmed')
    .argument('<app>')
    .argument('<env>')
    .argument('<file>')
    .option('--yes', 'write without asking')
    .action(
      action((context, app: string, envName: string, file: string, options: { yes?: boolean }) =>
        configPutCommand(context, output, app, envName, file, options),
      ),
    );

  for (const command of [program, config]) command.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** `--wait` and its polling interval, for the commands that start an execution. */
function withWaitOptions(command: Command): Command {
  return command
    .option('--wait', 'follow it state by state; exit 0 only if it ends Deployed')
    .option('--poll-seconds <s>', 'seconds between two looks while waiting', '2');
}

/** Runs one command line; resolves with the exit code. */
export async function run(
  argv: readonly string[],
  output: Output = processOutput,
  env = process.env,
  hooks: ContextHooks = {},
): Promise<ExitCode> {
  let code: ExitCode = exitCodes.ok;
  const program = buildProgram(
    output,
    env,
    (result) => {
      code = result;
    },
    hooks,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; every parse error is bad input.
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    const { code: failure, line } = describeFailure(error);
    output.err(`gantry: ${line}`);
    return failure;
  }
}
