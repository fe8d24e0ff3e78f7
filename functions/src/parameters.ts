import {
  DeleteParameterCommand,
  GetParameterCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { awsCall, hasErrorName } from './errors.ts';

/** Where one app/environment keeps its config and live release in Parameter Store (see docs/architecture.md). */
export interface AppEnvParameters {
  config: string;
  release: string;
}

export function appEnvParameters(prefix: string, app: string, env: string): AppEnvParameters {
  const base = `${prefix}/${app}/${env}`;
  return { config: `${base}/config`, release: `${base}/release` };
}

export interface StoredParameter {
  value: string;
  version: number;
}

export async function readParameter(
  ssm: SSMClient,
  name: string,
  options: { decrypt?: boolean } = {},
): Promise<StoredParameter | undefined> {
  try {
    const { Parameter } = await awsCall(`reading ${name}`, () =>
      ssm.send(new GetParameterCommand({ Name: name, WithDecryption: options.decrypt ?? false })),
    );
    return { value: Parameter?.Value ?? '', version: Parameter?.Version ?? 0 };
  } catch (error) {
    if (hasErrorName(error, 'ParameterNotFound')) return undefined;
    throw error;
  }
}

export async function writeParameter(
  ssm: SSMClient,
  name: string,
  value: string,
  options: { overwrite: boolean },
): Promise<number> {
  const { Version } = await awsCall(`writing ${name}`, () =>
    ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: 'String',
        Overwrite: options.overwrite,
      }),
    ),
  );
  return Version ?? 0;
}

/** Deletes the parameter; false when it was already gone (someone else got there first). */
export async function deleteParameter(ssm: SSMClient, name: string): Promise<boolean> {
  try {
    await awsCall(`deleting ${name}`, () => ssm.send(new DeleteParameterCommand({ Name: name })));
    return true;
  } catch (error) {
    if (hasErrorName(error, 'ParameterNotFound')) return false;
    throw error;
  }
}
