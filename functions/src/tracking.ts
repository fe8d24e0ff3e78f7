import { parseDeployConfig } from './config/load-config.ts';
import type { DeployConfig } from './config/schema.ts';
import { ConfigInvalid } from './errors.ts';

/**
 * What an entry Lambda answers for an event of its source that it has no business with: it says
 * why, logs it once, and neither throws (a throw makes Lambda retry an event that can never apply)
 * nor claims to have started anything.
 */
export interface Ignored {
  readonly ignored: string;
}

export const ignore = (why: string): Ignored => ({ ignored: why });

export const isIgnored = (value: object): value is Ignored => 'ignored' in value;

/** Config parameters under the prefix, keyed by name relative to it (`web/prod/config`). */
export type ConfigSource = (prefix: string) => Promise<Record<string, string>>;

export interface AppEnvConfig {
  app: string;
  env: string;
  config: DeployConfig;
}

export interface TrackedConfigs {
  configs: AppEnvConfig[];
  /** Configs that fail validation: skipped here (one bad app must not stop the others) and reported. */
  invalid: { app: string; env: string; issues: readonly string[] }[];
}

/** Every app/environment's config, validated; the source decides how long results are cached. */
export async function listAppEnvConfigs(source: ConfigSource, prefix: string): Promise<TrackedConfigs> {
  const parameters = await source(prefix);
  const result: TrackedConfigs = { configs: [], invalid: [] };
  for (const [relativeName, value] of Object.entries(parameters)) {
    const match = /^([^/]+)\/([^/]+)\/config$/.exec(relativeName);
    if (!match?.[1] || !match[2]) continue;
    const [app, env] = [match[1], match[2]];
    try {
      result.configs.push({ app, env, config: parseDeployConfig(`${prefix}/${relativeName}`, value) });
    } catch (error) {
      if (!(error instanceof ConfigInvalid)) throw error;
      result.invalid.push({ app, env, issues: error.issues });
    }
  }
  return result;
}
