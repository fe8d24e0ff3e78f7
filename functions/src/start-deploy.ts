import { createHash } from 'node:crypto';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { DeployRequest } from './deploy-plan.ts';
import { awsCall, hasErrorName } from './errors.ts';

export type StartOutcome = { started: true; executionArn: string } | { started: false; why: 'duplicate' };

/**
 * Execution names are deterministic in what the request is about (app, environment, and the
 * digest or the triggering event), so a redelivered or repeated event maps to the same name and
 * Step Functions itself refuses the second start: de-duplication with no table of our own.
 */
export function executionName(
  kind: 'push' | 'rollback' | 'restore',
  app: string,
  env: string,
  key: string,
): string {
  const hash = createHash('sha256').update(`${kind}/${app}/${env}/${key}`).digest('hex').slice(0, 20);
  return `${kind}-${app}-${env}`.slice(0, 58).concat('-', hash);
}

/**
 * An execution's ARN from its machine's and its name: `arn:${Partition}:states:${Region}:
 * ${Account}:execution:${StateMachineName}:${ExecutionId}` (Service Authorization Reference,
 * AWS Step Functions, resource types).
 */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

export async function startDeploy(
  sfn: SFNClient,
  stateMachineArn: string,
  name: string,
  request: DeployRequest,
): Promise<StartOutcome> {
  try {
    const { executionArn } = await awsCall('starting the deploy execution', () =>
      sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(request) })),
    );
    return { started: true, executionArn: executionArn ?? `${stateMachineArn}:${name}` };
  } catch (error) {
    if (hasErrorName(error, 'ExecutionAlreadyExists')) return { started: false, why: 'duplicate' };
    throw error;
  }
}
