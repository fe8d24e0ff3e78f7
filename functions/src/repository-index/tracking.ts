import { GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { parseDeployConfig } from '../config/load-config.ts';
import type { DeployConfig } from '../config/schema.ts';
import type { CoordinationTable } from '../coordination/table.ts';
import { awsCall, ConfigInvalid } from '../errors.ts';
import { appEnvParameters } from '../parameters.ts';
import { parseReleaseRecord, type ReleaseRecord, safeJson } from '../release.ts';
import { type ConfigSource, listAppEnvConfigs } from '../tracking.ts';
import { type AppEnvName, readIndexEntry, writeIndexEntry } from './index-table.ts';
import { type ConfigIndex, repositoryIndex } from './indexes.ts';

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

type InvalidConfig = { app: string; env: string; issues: readonly string[] };

export interface AppEnvsRead {
  /** App/environments whose config is there and valid, with their live release. */
  appEnvs: TrackingAppEnv[];
  /** App/environments whose config is there but invalid: skipped, and reported. */
  invalid: InvalidConfig[];
}

/**
 * The configs and live releases of `names`, read by name: two names each, ten a call
 * (GetParameters), never a scan.
 */
export async function readAppEnvs(
  ssm: SSMClient,
  parameterPrefix: string,
  names: readonly AppEnvName[],
): Promise<AppEnvsRead> {
  const parameters = names.map((name) => ({
    name,
    ...appEnvParameters(parameterPrefix, name.app, name.env),
  }));
  const values = await readParameters(
    ssm,
    parameters.flatMap(({ config, release }) => [config, release]),
  );
  // A name without a config (deleted since it was indexed) is in neither list.
  const read: AppEnvsRead = { appEnvs: [], invalid: [] };
  for (const { name, config, release } of parameters) {
    const text = values.get(config);
    if (text === undefined) continue;
    try {
      const releaseText = values.get(release);
      read.appEnvs.push({
        ...name,
        config: parseDeployConfig(config, text),
        release: releaseText === undefined ? undefined : parseReleaseRecord(safeJson(releaseText)),
      });
    } catch (error) {
      if (!(error instanceof ConfigInvalid)) throw error;
      read.invalid.push({ ...name, issues: error.issues });
    }
  }
  return read;
}

export interface IndexedAppEnvs {
  /** App/environments whose valid config names the key, with their live release. */
  naming: TrackingAppEnv[];
  invalid: InvalidConfig[];
  /** `index`: one index read; `scan`: the index had never seen the key (and now has). */
  via: 'index' | 'scan';
}

/**
 * Who names `key` in `index`, at a cost that does not grow with the fleet: one index read, then
 * GetParameters for those app/environments' configs and live releases (two names each, ten a
 * call). A key the index has never seen costs one full scan of the configs, which writes its entry
 * (if nobody wrote one meanwhile). An entry that misses an app/environment (a change event lost)
 * is made good by the reconciler's rebuild (and, for a push, its lost-push pass); an entry that
 * names one whose config no longer names the key costs two names and is filtered out here.
 */
export async function appEnvsNaming(
  deps: TrackingDependencies,
  index: ConfigIndex,
  key: string,
): Promise<IndexedAppEnvs> {
  const entry = await readIndexEntry(deps.table, key, { index });
  let names: AppEnvName[];
  let invalid: InvalidConfig[] = [];
  if (entry) {
    names = entry.appEnvs;
  } else {
    const scanned = await listAppEnvConfigs(deps.configSource, deps.parameterPrefix);
    names = scanned.configs
      .filter(({ config }) => index.keysNamedBy(config).includes(key))
      .map(({ app, env }) => ({ app, env }));
    invalid = scanned.invalid;
    await writeIndexEntry(deps.table, key, names, 'absent', index);
  }
  const read = await readAppEnvs(deps.ssm, deps.parameterPrefix, names);
  // No app/environment is in both: a scan reads again only the configs it found valid.
  invalid = [...invalid, ...read.invalid];
  return {
    naming: read.appEnvs.filter(({ config }) => index.keysNamedBy(config).includes(key)),
    invalid,
    via: entry ? 'index' : 'scan',
  };
}

export interface RepositoryTracking {
  /** App/environments whose valid config names the repository, with their live release. */
  tracking: TrackingAppEnv[];
  invalid: InvalidConfig[];
  via: IndexedAppEnvs['via'];
}

/** Who tracks `repository`: the repository index's answer (appEnvsNaming). */
export async function appEnvsTracking(
  deps: TrackingDependencies,
  repository: string,
): Promise<RepositoryTracking> {
  const { naming, invalid, via } = await appEnvsNaming(deps, repositoryIndex, repository);
  return { tracking: naming, invalid, via };
}
