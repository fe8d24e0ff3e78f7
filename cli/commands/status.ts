import { cachedConfigSource } from '../../functions/handlers/config-source.ts';
import {
  type AppEnvStatus,
  displayName,
  executionNameOf,
  readAppEnvStatus,
} from '../../functions/src/status.ts';
import { listAppEnvConfigs } from '../../functions/src/tracking.ts';
import type { CliContext } from '../context.ts';
import { appEnvArguments } from '../names.ts';
import { type ExitCode, exitCodes, type Output, RefusedError, table, when } from '../output.ts';

/**
 * `gantry status [app] [env]`: one app/environment, every environment of an app, or everything
 * under the prefix. AWS calls: 1 GetParametersByPath page per 10 parameters when listing, then per
 * app/environment 1 GetParameter, 1 Query and 2 GetItem.
 */
export async function statusCommand(
  context: CliContext,
  output: Output,
  app: string | undefined,
  env: string | undefined,
): Promise<ExitCode> {
  const deps = { ssm: context.clients.ssm, table: context.table(), parameterPrefix: context.parameterPrefix };
  let targets: { app: string; env: string }[];
  if (app !== undefined && env !== undefined) {
    targets = [appEnvArguments(app, env)];
  } else {
    if (app !== undefined) appEnvArguments(app, 'any');
    // Every config parameter, read afresh: a person asks for what is true now.
    const { configs, invalid } = await listAppEnvConfigs(
      cachedConfigSource(context.clients.ssm, 0),
      context.parameterPrefix,
    );
    targets = [...configs, ...invalid]
      .filter((found) => app === undefined || found.app === app)
      .map(({ app: foundApp, env: foundEnv }) => ({ app: foundApp, env: foundEnv }))
      .sort((a, b) => `${a.app}/${a.env}`.localeCompare(`${b.app}/${b.env}`));
    if (targets.length === 0) {
      throw new RefusedError(
        `no app/environment config under ${context.parameterPrefix}${app ? `/${app}` : ''} (gantry config put creates one)`,
      );
    }
  }
  const statuses: AppEnvStatus[] = [];
  for (const target of targets) statuses.push(await readAppEnvStatus(deps, target.app, target.env));
  if (context.json) {
    output.out(JSON.stringify(app !== undefined && env !== undefined ? statuses[0] : statuses, null, 2));
    return exitCodes.ok;
  }
  output.out(
    table(
      ['APP', 'ENV', 'LIVE', 'DIGEST', 'SINCE', 'BY', 'LAST ATTEMPT', 'NOW'],
      statuses.map((status) => [
        status.app,
        status.env,
        status.live ? displayName(status.live) : '-',
        status.live?.shortDigest ?? '-',
        status.live ? when(status.live.since) : '-',
        status.live ? executionNameOf(status.live.byExecution) : '-',
        status.lastAttempt
          ? status.lastAttempt.rolledBackFrom
            ? `${status.lastAttempt.outcome} from ${displayName(status.lastAttempt.rolledBackFrom)}`
            : `${status.lastAttempt.outcome} ${displayName(status.lastAttempt.release)}`
          : '-',
        nowText(status),
      ]),
    ),
  );
  output.out('');
  for (const status of statuses) output.out(status.summary);
  return exitCodes.ok;
}

function nowText(status: AppEnvStatus): string {
  const parts = [
    status.lock && `deploying ${imageName(status.lock.image)}`,
    status.waiting && `waiting: ${imageName(status.waiting.image)}`,
  ].filter((part): part is string => typeof part === 'string');
  return parts.length > 0 ? parts.join(', ') : 'idle';
}

/** `repo@sha256:0123456789ab…` → `repo@sha256:0123456789ab`: the lock keeps the request's image. */
function imageName(image: string): string {
  const slash = image.lastIndexOf('/');
  const short = slash >= 0 ? image.slice(slash + 1) : image;
  return short.replace(/(@sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1');
}
