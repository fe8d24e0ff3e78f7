import {
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type SFNClientResolvedConfig,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { AwsStub } from 'aws-sdk-client-mock';

/**
 * Answers StartExecution as Step Functions does: the execution ARN is the state machine's, with
 * `:stateMachine:` turned into `:execution:` and the execution's name appended.
 */
export function answerStartExecution(
  sfnMock: AwsStub<ServiceInputTypes, ServiceOutputTypes, SFNClientResolvedConfig>,
  stateMachineArn: string,
): void {
  sfnMock.on(StartExecutionCommand).callsFake(({ name }: { name?: string }) => ({
    executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
    startDate: new Date(),
  }));
}
