import { parseDeployConfig } from './config/load-config.ts';
import type { DeployConfig } from './config/schema.ts';
import { ConfigInvalid } from './errors.ts';

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
