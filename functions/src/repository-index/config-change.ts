import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CoordinationTable } from '../coordination/table.ts';
import { appEnvParameters, readParameter } from '../parameters.ts';
import { safeJson } from '../release.ts';
import { type ConfigSource, type Ignored, ignore } from '../tracking.ts';
import * as z from '../zod.ts';
import {
  type AppEnvName,
  appEnvKey,
  listIndexEntries,
  updateIndexEntry,
  writeIndexEntry,
} from './index-table.ts';
import { alarmIndex, type ConfigIndex, repositoryIndex } from './indexes.ts';

/**
 * A Parameter Store Change event (source `aws.ssm`): `operation` is Create, Update, Delete or
 * LabelParameterVersion, `name` the parameter (AWS Systems Manager User Guide, "Amazon EventBridge
 * event examples for Systems Manager", Parameter Store events:
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/monitoring-systems-manager-event-examples.html;
 * events/parameter-store-change.json is that sample with a config name).
 */
const parameterChangeSchema = z.object({
  source: z.literal('aws.ssm'),
  'detail-type': z.literal('Parameter Store Change'),
  detail: z.looseObject({ operation: z.string(), name: z.string() }),
});

/**
 * One app/environment's config changed: what it now names in each index (nothing once deleted or
 * unreadable).
 */
export interface ConfigChange extends AppEnvName {
  repository: string | undefined;
  /** The CloudWatch alarms it lists, as rollback or gate alarms. */
  alarms: readonly string[];
}

/** What a config's text (undefined: no config) names in each index, valid or not. */
export function configChangeOf(appEnv: AppEnvName, configText: string | undefined): ConfigChange {
  const json = configText === undefined ? undefined : safeJson(configText);
  return {
    app: appEnv.app,
    env: appEnv.env,
    repository: repositoryIndex.keysNamedBy(json)[0],
    alarms: alarmIndex.keysNamedBy(json),
  };
}

/** The app/environment whose config an event reports changed, or why the event is not one. */
export function parseConfigChangeEvent(
  event: unknown,
  prefix: string,
): (AppEnvName & { operation: 'Create' | 'Update' | 'Delete' }) | Ignored {
  const parsed = parameterChangeSchema.safeParse(event);
  if (!parsed.success) return ignore('not a Parameter Store Change event with an operation and a name');
  const { operation, name } = parsed.data.detail;
  if (operation !== 'Create' && operation !== 'Update' && operation !== 'Delete') {
    return ignore(`${operation} does not change a config's value`);
  }
  // The sample names a parameter without its leading slash; a hierarchical name has one. Both read
  // as the same name here.
  const absolute = name.startsWith('/') ? name : `/${name}`;
  const base = prefix.startsWith('/') ? prefix : `/${prefix}`;
  const match = absolute.startsWith(`${base}/`)
    ? /^([^/]+)\/([^/]+)\/config$/.exec(absolute.slice(base.length + 1))
    : null;
  if (!match?.[1] || !match[2]) return ignore(`${name} is not an <app>/<env>/config parameter`);
  return { app: match[1], env: match[2], operation };
}

/**
 * What the config now says, read from Parameter Store rather than taken from the event: events may
 * arrive out of order or twice, and the current value is what every one of them converges to.
 */
export async function readConfigChange(
  ssm: SSMClient,
  prefix: string,
  appEnv: AppEnvName,
): Promise<ConfigChange> {
  const stored = await readParameter(ssm, appEnvParameters(prefix, appEnv.app, appEnv.env).config);
  return configChangeOf(appEnv, stored?.value);
}

/**
 * Puts one config change into both indexes: in each, the app/environment joins the entry of every
 * key it now names, then leaves any other. In that order, a failure between the two leaves it
 * listed twice, which the event's routing filters out by reading the config; never missing. The
 * config-change Lambda and `gantry config put` call this.
 */
export async function indexConfigChange(table: CoordinationTable, change: ConfigChange): Promise<void> {
  const appEnv = { app: change.app, env: change.env };
  await moveInIndex(
    table,
    repositoryIndex,
    appEnv,
    change.repository === undefined ? [] : [change.repository],
  );
  await moveInIndex(table, alarmIndex, appEnv, change.alarms);
}

async function moveInIndex(
  table: CoordinationTable,
  index: ConfigIndex,
  appEnv: AppEnvName,
  keys: readonly string[],
): Promise<void> {
  for (const key of keys) await updateIndexEntry(table, key, { add: appEnv }, index);
  for (const entry of await listIndexEntries(table, index)) {
    if (keys.includes(entry.key)) continue;
    if (!entry.appEnvs.some((name) => appEnvKey(name) === appEnvKey(appEnv))) continue;
    await updateIndexEntry(table, entry.key, { remove: appEnv }, index);
  }
}

export interface RebuildDependencies {
  table: CoordinationTable;
  configSource: ConfigSource;
  parameterPrefix: string;
}

export interface RebuildOutcome {
  /** Keys in the index after the rebuild. */
  entries: number;
  /** Entries that were missing or wrong, now written. */
  repaired: string[];
  /** Entries a config change rewrote while the rebuild ran: theirs is newer, left as it is. */
  raced: string[];
}

/**
 * Rebuilds both indexes from every config, writing only the entries that differ: what the
 * reconciler runs each period, so an entry a lost change event left stale is right again within
 * one period. Costs one scan of the configs (GetParametersByPath, 10 a page), one Query per index,
 * and one write per wrong entry.
 */
export async function rebuildConfigIndexes(
  deps: RebuildDependencies,
): Promise<{ repositories: RebuildOutcome; alarms: RebuildOutcome }> {
  const parameters = await deps.configSource(deps.parameterPrefix);
  return {
    repositories: await rebuildIndex(deps.table, repositoryIndex, parameters),
    alarms: await rebuildIndex(deps.table, alarmIndex, parameters),
  };
}

/** The repository index alone, rebuilt from one scan of the configs (rebuildConfigIndexes). */
export async function rebuildRepositoryIndex(deps: RebuildDependencies): Promise<RebuildOutcome> {
  return rebuildIndex(deps.table, repositoryIndex, await deps.configSource(deps.parameterPrefix));
}

/** One index rebuilt from `parameters` (config texts by name relative to the prefix). */
async function rebuildIndex(
  table: CoordinationTable,
  index: ConfigIndex,
  parameters: Record<string, string>,
): Promise<RebuildOutcome> {
  const wanted = new Map<string, AppEnvName[]>();
  for (const [relativeName, value] of Object.entries(parameters)) {
    const match = /^([^/]+)\/([^/]+)\/config$/.exec(relativeName);
    if (!match?.[1] || !match[2]) continue;
    for (const key of index.keysNamedBy(safeJson(value))) {
      wanted.set(key, [...(wanted.get(key) ?? []), { app: match[1], env: match[2] }]);
    }
  }
  const existing = new Map((await listIndexEntries(table, index)).map((entry) => [entry.key, entry]));
  const outcome: RebuildOutcome = { entries: 0, repaired: [], raced: [] };
  for (const key of new Set([...wanted.keys(), ...existing.keys()])) {
    outcome.entries++;
    const want = (wanted.get(key) ?? []).map(appEnvKey).sort();
    const entry = existing.get(key);
    const have = (entry?.appEnvs ?? []).map(appEnvKey).sort();
    if (entry && want.join('\n') === have.join('\n')) continue;
    const written = await writeIndexEntry(table, key, wanted.get(key) ?? [], entry ?? 'absent', index);
    (written ? outcome.repaired : outcome.raced).push(key);
  }
  return outcome;
}
