import { GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { parseDeployConfig } from '../config/load-config.ts';
import type { DeployConfig } from '../config/schema.ts';
import type { CoordinationTable } from '../coordination/table.ts';
import { awsCall, ConfigInvalid } from '../errors.ts';
import { appEnvParameters } from '../parameters.ts';
import { parseReleaseRecord, type ReleaseRecord, safeJson } from '../release.ts';
import { type ConfigSource, listAppEnvConfigs } from '../tracking.ts';
import { type AppEnvName, appEnvKey, readIndexEntry, writeIndexEntry } from './index-table.ts';

/** GetParameters takes at most 10 names a call (GetParameters API reference, `Names`: 1 to 10 items,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html). */
export const getParametersBatch = 10;

/** Current values of `names`, read 10 a call; a name that does not exist is absent from the map. */
export async function readParameters(ssm: SSMClient, names: readonly string[]): Promise<Map<string, string>> {
  const unique = [...new Set(names)];
  const batches: string[][] = [];
  for (let at = 0; at < unique.length; at += getParametersBatch) {
    batches.push(unique.slice(at, at + getParametersBatch));
  }
  const values = new Map<string, string>();
  for (const batch of batches) {
    const { Parameters } = await awsCall(`reading ${batch.length} parameters`, () =>
      ssm.send(new GetParametersCommand({ Names: batch })),
    );
    for (const { Name, Value } of Parameters ?? []) {
      if (Name !== undefined && Value !== undefined) values.set(Name, Value);
    }
  }
  return values;
}

/** The repository a config's text names, valid or not: an invalid config is still reported at push. */
export function repositoryNamedBy(configText: string): string | undefined {
  const json = safeJson(configText);
  const repository =
    json && typeof json === 'object' && !Array.isArray(json)
      ? (json as Record<string, unknown>).repository
      : undefined;
  return typeof repository === 'string' && repository !== '' ? repository : undefined;
}

export interface TrackingAppEnv extends AppEnvName {
  config: DeployConfig;
  release: ReleaseRecord | undefined;
}

export interface TrackingDependencies {
  ssm: SSMClient;
  table: CoordinationTable;
  configSource: ConfigSource;
  parameterPrefix: string;
}

export interface RepositoryTracking {
  /** App/environments whose valid config names the repository, with their live release. */
  tracking: TrackingAppEnv[];
  invalid: { app: string; env: string; issues: readonly string[] }[];
  /** `index`: one index read; `scan`: the index had never seen the repository (and now has). */
  via: 'index' | 'scan';
}

/**
 * Who tracks `repository`, at a cost that does not grow with the fleet: one index read, then
 * GetParameters for those app/environments' configs and live releases (two names each, ten a
 * call). A repository the index has never seen costs one full scan of the configs, which writes its
 * entry (if nobody wrote one meanwhile). An entry that misses an app/environment (a change event
 * lost) is made good by the reconciler's rebuild and its lost-push pass; an entry that names one
 * no longer tracking the repository costs two names and is filtered out here, by its config.
 */
export async function appEnvsTracking(
  deps: TrackingDependencies,
  repository: string,
): Promise<RepositoryTracking> {
  const entry = await readIndexEntry(deps.table, repository);
  let names: AppEnvName[];
  let invalid: RepositoryTracking['invalid'] = [];
  if (entry) {
    names = entry.appEnvs;
  } else {
    const scanned = await listAppEnvConfigs(deps.configSource, deps.parameterPrefix);
    names = scanned.configs.filter(({ config }) => config.repository === repository);
    invalid = scanned.invalid;
    await writeIndexEntry(deps.table, repository, names, 'absent');
  }
  const parameters = names.map((name) => ({
    name,
    ...appEnvParameters(deps.parameterPrefix, name.app, name.env),
  }));
  const values = await readParameters(
    deps.ssm,
    parameters.flatMap(({ config, release }) => [config, release]),
  );
  const tracking: TrackingAppEnv[] = [];
  for (const { name, config, release } of parameters) {
    const text = values.get(config);
    if (text === undefined) continue;
    try {
      const parsed = parseDeployConfig(config, text);
      if (parsed.repository !== repository) continue;
      const releaseText = values.get(release);
      tracking.push({
        ...name,
        config: parsed,
        release: releaseText === undefined ? undefined : parseReleaseRecord(safeJson(releaseText)),
      });
    } catch (error) {
      if (!(error instanceof ConfigInvalid)) throw error;
      if (!invalid.some((known) => appEnvKey(known) === appEnvKey(name))) {
        invalid = [...invalid, { ...name, issues: error.issues }];
      }
    }
  }
  return { tracking, invalid, via: entry ? 'index' : 'scan' };
}
