import type { SSMClient } from '@aws-sdk/client-ssm';
import { ConfigInvalid, ConfigNotFound } from '../errors.ts';
import { readParameter } from '../parameters.ts';
import { type DeployConfig, deployConfigSchema, describeIssues } from './schema.ts';

/** Validates a config parameter's text; throws ConfigInvalid naming every bad field. */
export function parseDeployConfig(name: string, text: string): DeployConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalid(`${name} is not JSON: ${(error as Error).message}`, ['(root): not JSON']);
  }
  const parsed = deployConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error);
    throw new ConfigInvalid(`${name} is invalid: ${issues.join('; ')}`, issues);
  }
  return parsed.data;
}

export async function loadDeployConfig(ssm: SSMClient, name: string): Promise<DeployConfig> {
  return deployConfigFrom(name, (await readParameter(ssm, name))?.value);
}

/** The config parameter `name` holds `text`; ConfigNotFound when it does not exist. */
export function deployConfigFrom(name: string, text: string | undefined): DeployConfig {
  if (text === undefined) throw new ConfigNotFound(`no config parameter ${name}`);
  return parseDeployConfig(name, text);
}
