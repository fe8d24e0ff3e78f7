import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CoordinationTable } from '../coordination/table.ts';
import { appEnvParameters, readParameter } from '../parameters.ts';
import { type ConfigSource, type Ignored, ignore } from '../tracking.ts';
import * as z from '../zod.ts';
import {
  type AppEnvName,
  appEnvKey,
  listIndexEntries,
  updateIndexEntry,
  writeIndexEntry,
} from './index-table.ts';
import { repositoryNamedBy } from './tracking.ts';

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

/** One app/environment's config changed: it now names `repository`, or none (deleted, unreadable). */
export interface ConfigChange extends AppEnvName {
  repository: string | undefined;
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
  return { ...appEnv, repository: stored ? repositoryNamedBy(stored.value) : undefined };
}

/**
 * Puts one config change into the repository index: the app/environment joins the entry of the
 * repository it now names, then leaves any other. In that order, a failure between the two leaves
 * it listed twice, which a push filters out by reading the config; never missing. The config-change
 * Lambda and `gantry config put` call this.
 */
export async function indexConfigChange(table: CoordinationTable, change: ConfigChange): Promise<void> {
  if (change.repository !== undefined) {
    await updateIndexEntry(table, change.repository, { add: change });
  }
  const entries = await listIndexEntries(table);
  for (const entry of entries) {
    if (entry.repository === change.repository) continue;
    if (!entry.appEnvs.some((name) => appEnvKey(name) === appEnvKey(change))) continue;
    await updateIndexEntry(table, entry.repository, { remove: change });
  }
}

export interface RebuildDependencies {
  table: CoordinationTable;
  configSource: ConfigSource;
  parameterPrefix: string;
}

export interface RebuildOutcome {
  /** Repositories in the index after the rebuild. */
  repositories: number;
  /** Entries that were missing or wrong, now written. */
  repaired: string[];
  /** Entries a config change rewrote while the rebuild ran: theirs is newer, left as it is. */
  raced: string[];
}

/**
 * Rebuilds the index from every config, writing only the entries that differ: what the reconciler
 * runs each period, so an entry a lost change event left stale is right again within one period.
 * Costs one scan of the configs (GetParametersByPath, 10 a page), one Query of the index, and one
 * write per wrong entry.
 */
export async function rebuildRepositoryIndex(deps: RebuildDependencies): Promise<RebuildOutcome> {
  const parameters = await deps.configSource(deps.parameterPrefix);
  const wanted = new Map<string, AppEnvName[]>();
  for (const [relativeName, value] of Object.entries(parameters)) {
    const match = /^([^/]+)\/([^/]+)\/config$/.exec(relativeName);
    const repository = repositoryNamedBy(value);
    if (!match?.[1] || !match[2] || repository === undefined) continue;
    wanted.set(repository, [...(wanted.get(repository) ?? []), { app: match[1], env: match[2] }]);
  }
  const existing = new Map((await listIndexEntries(deps.table)).map((entry) => [entry.repository, entry]));
  const outcome: RebuildOutcome = { repositories: 0, repaired: [], raced: [] };
  for (const repository of new Set([...wanted.keys(), ...existing.keys()])) {
    outcome.repositories++;
    const want = (wanted.get(repository) ?? []).map(appEnvKey).sort();
    const entry = existing.get(repository);
    const have = (entry?.appEnvs ?? []).map(appEnvKey).sort();
    if (entry && want.join('\n') === have.join('\n')) continue;
    const written = await writeIndexEntry(
      deps.table,
      repository,
      wanted.get(repository) ?? [],
      entry ?? 'absent',
    );
    (written ? outcome.repaired : outcome.raced).push(repository);
  }
  return outcome;
}
