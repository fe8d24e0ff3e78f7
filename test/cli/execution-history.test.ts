import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../sandbox/sandbox.ts';

/**
 * The sandbox's GetExecutionHistory, which `gantry deploy --wait` follows: the events it lists keep
 * Step Functions' shapes (API reference, GetExecutionHistory, HistoryEvent).
 */
let sandbox: Sandbox;
let executionArn: string;

beforeAll(async () => {
  sandbox = await startSandbox({ speed: 500 });
  sandbox.seedApp({ app: 'history', env: 'prod', repository: 'history' });
  const { digest } = await sandbox.push({ repository: 'history', tag: 'v1.0.0', scenario: 'healthy' });
  await sandbox.idle();
  executionArn = sandbox.executionFor(digest)?.executionArn ?? '';
});

afterAll(async () => {
  await sandbox?.close();
});

const history = async (input: { reverseOrder?: boolean; maxResults?: number; nextToken?: string }) =>
  new SFNClient(sandbox.emulator.clientConfig).send(
    new GetExecutionHistoryCommand({ executionArn, ...input }),
  );

describe('GetExecutionHistory (sandbox)', { timeout: 120_000 }, () => {
  it('lists the start, each state entered and exited by name, and the end, numbered in order', async () => {
    const { events = [] } = await history({});

    expect(events[0]).toMatchObject({ id: 1, previousEventId: 0, type: 'ExecutionStarted' });
    expect(events.at(-1)).toMatchObject({ type: 'ExecutionSucceeded' });
    expect(events.filter((event) => event.type?.endsWith('StateEntered')).map(enteredName)).toEqual(
      sandbox.stepFunctions.describeExecution(executionArn).states,
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'TaskStateExited',
        stateExitedEventDetails: { name: 'ResolveConfig' },
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'ChoiceStateEntered',
        stateEnteredEventDetails: { name: 'LockAcquired?' },
      }),
    );
    const ids = events.map((event) => event.id ?? 0);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(events.every((event) => event.timestamp instanceof Date)).toBe(true);
  });

  it('answers newest first with reverseOrder, in pages joined by nextToken', async () => {
    const { events: all = [] } = await history({});

    const first = await history({ reverseOrder: true, maxResults: 5 });
    const second = await history({
      reverseOrder: true,
      maxResults: 5,
      ...(first.nextToken && { nextToken: first.nextToken }),
    });

    expect(first.events).toEqual(all.slice(-5).reverse());
    expect(second.events).toEqual(all.slice(-10, -5).reverse());
  });
});

function enteredName(event: HistoryEvent): string | undefined {
  return event.stateEnteredEventDetails?.name;
}
