import {
  DeleteParameterCommand,
  GetParameterCommand,
  LabelParameterVersionCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { awsCall, hasErrorName } from './errors.ts';

/** Where one app/environment keeps its state in Parameter Store (see docs/architecture.md). */
export interface AppEnvParameters {
  config: string;
  release: string;
  lock: string;
  next: string;
}

export function appEnvParameters(prefix: string, app: string, env: string): AppEnvParameters {
  const base = `${prefix}/${app}/${env}`;
  return { config: `${base}/config`, release: `${base}/release`, lock: `${base}/lock`, next: `${base}/next` };
}

/** The pending task token for one ECS deployment; ECS deployment ids look like `ecs-svc/123…`. */
export function rolloutParameter(prefix: string, deploymentId: string): string {
  return `${prefix}-rollouts/${deploymentId}`;
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
  options: { overwrite: boolean; secure?: boolean },
): Promise<number> {
  const { Version } = await awsCall(`writing ${name}`, () =>
    ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: options.secure ? 'SecureString' : 'String',
        Overwrite: options.overwrite,
      }),
    ),
  );
  return Version ?? 0;
}

/** Creates the parameter only if it does not exist: Parameter Store's one atomic primitive. */
export async function createParameterIfAbsent(ssm: SSMClient, name: string, value: string): Promise<boolean> {
  try {
    await writeParameter(ssm, name, value, { overwrite: false });
    return true;
  } catch (error) {
    if (hasErrorName(error, 'ParameterAlreadyExists')) return false;
    throw error;
  }
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

export async function labelParameterVersion(
  ssm: SSMClient,
  name: string,
  version: number,
  label: string,
): Promise<void> {
  await awsCall(`labelling ${name}`, () =>
    ssm.send(new LabelParameterVersionCommand({ Name: name, ParameterVersion: version, Labels: [label] })),
  );
}
