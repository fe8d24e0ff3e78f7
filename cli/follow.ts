import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { awsCall } from '../functions/src/errors.ts';

export interface FollowedExecution {
  status: string;
  /** The last state the execution entered: `Deployed`, `RolledBack`, `Superseded`… */
  endState: string | undefined;
  error?: string;
  cause?: string;
  output?: string;
}

export interface FollowOptions {
  /** Real seconds between two looks at the history. */
  pollSeconds: number;
  onState: (state: string, event: HistoryEvent) => void;
  sleep?: (ms: number) => Promise<void>;
  /** Stops following (Ctrl-C): resolves with the status seen so far. */
  signal?: AbortSignal;
}

/**
 * Follows an execution state by state, as the console's graph does: its history, read newest first
 * (`reverseOrder`), gives the states entered since the last look (`stateEnteredEventDetails.name`;
 * Step Functions API reference, GetExecutionHistory and HistoryEvent). One GetExecutionHistory call
 * per look while nothing much happens, one DescribeExecution at the end for the error and cause.
 */
export async function followExecution(
  sfn: SFNClient,
  executionArn: string,
  options: FollowOptions,
): Promise<FollowedExecution> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let lastSeen = 0;
  let endState: string | undefined;
  for (;;) {
    const fresh = await newEvents(sfn, executionArn, lastSeen);
    for (const event of fresh) {
      lastSeen = Math.max(lastSeen, event.id ?? 0);
      const name = event.stateEnteredEventDetails?.name;
      if (name !== undefined) {
        endState = name;
        options.onState(name, event);
      }
    }
    const ended = fresh.some((event) =>
      /^Execution(Succeeded|Failed|Aborted|TimedOut)$/.test(event.type ?? ''),
    );
    if (ended || options.signal?.aborted) {
      const described: DescribeExecutionCommandOutput = await awsCall('describing the execution', () =>
        sfn.send(new DescribeExecutionCommand({ executionArn })),
      );
      return {
        status: described.status ?? 'UNKNOWN',
        endState,
        ...(described.error !== undefined && { error: described.error }),
        ...(described.cause !== undefined && { cause: described.cause }),
        ...(described.output !== undefined && { output: described.output }),
      };
    }
    await sleep(options.pollSeconds * 1000);
  }
}

/** Events newer than `lastSeen`, oldest first: pages of the newest-first history until one reaches it. */
async function newEvents(sfn: SFNClient, executionArn: string, lastSeen: number): Promise<HistoryEvent[]> {
  const collected: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await awsCall('reading the execution history', () =>
      sfn.send(
        new GetExecutionHistoryCommand({
          executionArn,
          reverseOrder: true,
          maxResults: 100,
          includeExecutionData: false,
          ...(nextToken !== undefined && { nextToken }),
        }),
      ),
    );
    const events = page.events ?? [];
    collected.push(...events.filter((event) => (event.id ?? 0) > lastSeen));
    if (events.some((event) => (event.id ?? 0) <= lastSeen)) break;
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return collected.reverse();
}
