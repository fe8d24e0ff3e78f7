import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { awsCall, hasErrorName } from '../errors.ts';

export type Resumption = { output: unknown } | { error: string; cause: string };

/**
 * Resumes a paused execution. False when no one waits on the token any more: its task timed out
 * or its execution ended (SendTaskSuccess answers TaskTimedOut or TaskDoesNotExist then; see the
 * Step Functions API reference, SendTaskSuccess "Errors").
 */
export async function resumeTask(
  sfn: SFNClient,
  taskToken: string,
  resumption: Resumption,
): Promise<boolean> {
  try {
    if ('output' in resumption) {
      await awsCall('resuming the execution', () =>
        sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(resumption.output) })),
      );
    } else {
      await awsCall('failing the execution', () =>
        sfn.send(new SendTaskFailureCommand({ taskToken, error: resumption.error, cause: resumption.cause })),
      );
    }
    return true;
  } catch (error) {
    if (hasErrorName(error, 'TaskTimedOut') || hasErrorName(error, 'TaskDoesNotExist')) return false;
    throw error;
  }
}
