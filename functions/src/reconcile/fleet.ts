import { GetParametersByPathCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { parseDeployConfig } from '../config/load-config.ts';
import type { DeployConfig } from '../config/schema.ts';
import { awsCall, ConfigInvalid } from '../errors.ts';
import { parseReleaseRecord, type ReleaseRecord, safeJson } from '../release.ts';

/** One app/environment as Parameter Store holds it: its config and its live release. */
export interface AppEnvState {
  app: string;
  env: string;
  config: DeployConfig;
  /** When the config parameter was last written (epoch ms). */
  configModifiedAt: number;
  /** The live release record, if Gantry ever recorded one (and it is readable). */
  release?: ReleaseRecord;
}

export interface Fleet {
  appEnvs: AppEnvState[];
  /** Configs that fail validation: reported, never reconciled. */
  invalid: { app: string; env: string; issues: readonly string[] }[];
}

/**
 * Every app/environment under the prefix with its config and live release, from one recursive
 * walk of the tree (GetParametersByPath returns at most 10 parameters a call: SDK model,
 * @aws-sdk/client-ssm GetParametersByPathRequest.MaxResults), so a run costs ⌈parameters / 10⌉
 * reads of the account's shared Parameter Store read quota, not one per app/environment.
 */
export async function readFleet(ssm: SSMClient, prefix: string): Promise<Fleet> {
  const configs = new Map<string, { text: string; modifiedAt: number }>();
  const releases = new Map<string, string>();
  let nextToken: string | undefined;
  do {
    const page = await awsCall(`reading ${prefix}`, () =>
      ssm.send(
        new GetParametersByPathCommand({
          Path: prefix,
          Recursive: true,
          MaxResults: 10,
          ...(nextToken !== undefined && { NextToken: nextToken }),
        }),
      ),
    );
    for (const parameter of page.Parameters ?? []) {
      const match = /^([^/]+)\/([^/]+)\/(config|release)$/.exec(
        (parameter.Name ?? '').slice(prefix.length + 1),
      );
      if (!match || parameter.Value === undefined) continue;
      const key = `${match[1]}/${match[2]}`;
      if (match[3] === 'config') {
        configs.set(key, { text: parameter.Value, modifiedAt: parameter.LastModifiedDate?.getTime() ?? 0 });
      } else {
        releases.set(key, parameter.Value);
      }
    }
    nextToken = page.NextToken;
  } while (nextToken);

  const fleet: Fleet = { appEnvs: [], invalid: [] };
  for (const [key, { text, modifiedAt }] of configs) {
    const [app = '', env = ''] = key.split('/');
    let config: DeployConfig;
    try {
      config = parseDeployConfig(`${prefix}/${key}/config`, text);
    } catch (error) {
      if (!(error instanceof ConfigInvalid)) throw error;
      fleet.invalid.push({ app, env, issues: error.issues });
      continue;
    }
    const release = parseReleaseRecord(safeJson(releases.get(key)));
    fleet.appEnvs.push({
      app,
      env,
      config,
      configModifiedAt: modifiedAt,
      ...(release && { release }),
    });
  }
  return fleet;
}
