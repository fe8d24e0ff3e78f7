import { describe, expect, it } from 'vitest';
import {
  appEnvPartition,
  conditionalWrite,
  expiresIn,
  keyOf,
  numberOf,
  stringOf,
  waitPartition,
} from '../../functions/src/coordination/table.ts';

const failedWith = (name: string) => Object.assign(new Error(`${name} happened`), { name, $metadata: {} });

describe('coordination table', () => {
  it('keys an app/environment and a parked wait in partitions of their own', () => {
    expect(keyOf(appEnvPartition('web', 'prod'), 'lock')).toEqual({
      pk: { S: 'app#web#prod' },
      sk: { S: 'lock' },
    });
    expect(waitPartition('ecs-svc/123')).toBe('wait#ecs-svc/123');
  });

  it('reads an attribute only as the type it was written with', () => {
    const item = { text: { S: '42' }, number: { N: '42' } };

    expect([stringOf(item, 'text'), stringOf(item, 'number'), stringOf(item, 'absent')]).toEqual([
      '42',
      undefined,
      undefined,
    ]);
    expect([numberOf(item, 'number'), numberOf(item, 'text'), numberOf(undefined, 'number')]).toEqual([
      42,
      undefined,
      undefined,
    ]);
  });

  it('sets an expiry in whole epoch seconds, rounded up so an item never expires early', () => {
    // TTL attributes hold epoch seconds (DynamoDB developer guide, "Time to Live").
    expect(expiresIn(new Date('2025-06-03T10:16:00.250Z'), 60)).toEqual({
      N: String(Date.parse('2025-06-03T10:17:01Z') / 1000),
    });
  });

  describe('conditionalWrite', () => {
    it('answers true when the write happened and false when its condition failed', async () => {
      await expect(conditionalWrite('taking the lock', async () => ({}))).resolves.toBe(true);
      await expect(
        conditionalWrite('taking the lock', () =>
          Promise.reject(failedWith('ConditionalCheckFailedException')),
        ),
      ).resolves.toBe(false);
    });

    it('throws any other failure, saying what it was doing when it is transient', async () => {
      await expect(
        conditionalWrite('taking the lock', () => Promise.reject(failedWith('ThrottlingException'))),
      ).rejects.toMatchObject({
        name: 'TransientAwsError',
        message: 'taking the lock: ThrottlingException: ThrottlingException happened',
      });
      await expect(
        conditionalWrite('taking the lock', () => Promise.reject(failedWith('ResourceNotFoundException'))),
      ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    });
  });
});
