import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishGantryEvents } from '../../functions/src/notify.ts';
import { story } from '../support/aws-fixtures.ts';

const eventsMock = mockClient(EventBridgeClient);
const events = new EventBridgeClient({ region: story.region });
const sentTypes = () =>
  eventsMock
    .commandCalls(PutEventsCommand)
    .map(({ args: [{ input }] }) => input.Entries?.map((entry) => entry.DetailType));

beforeEach(() => {
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
});

afterEach(() => {
  eventsMock.reset();
});

describe('publishGantryEvents', () => {
  it('puts events that fit together in one call, in order', async () => {
    // Act
    await publishGantryEvents(events, 'default', [
      { detailType: 'Release Succeeded', detail: { app: 'web' } },
      { detailType: 'Release Status Changed', detail: { app: 'web' } },
    ]);

    // Assess
    expect(sentTypes()).toEqual([['Release Succeeded', 'Release Status Changed']]);
  });

  it('splits events whose entries would reach 256 KB together into separate calls', async () => {
    // Prepare: a failure's forensics near the entry limit, then the status it leaves.
    const forensics = 'x'.repeat(200 * 1024);

    // Act
    await publishGantryEvents(events, 'default', [
      { detailType: 'Release Rolled Back', detail: { forensics } },
      { detailType: 'Release Status Changed', detail: { forensics: forensics.slice(0, 60 * 1024) } },
    ]);

    // Assess
    expect(sentTypes()).toEqual([['Release Rolled Back'], ['Release Status Changed']]);
  });

  it('puts at most 10 entries a call', async () => {
    // Act
    await publishGantryEvents(
      events,
      'default',
      Array.from({ length: 11 }, () => ({ detailType: 'Drift Detected' as const, detail: {} })),
    );

    // Assess
    expect(sentTypes().map((types) => types?.length)).toEqual([10, 1]);
  });
});
