import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';

describe('the emulator (a simulation) for the swarm agent', () => {
  let emulator: Emulator;
  let sqs: SQSClient;
  let queue: string;

  beforeEach(async () => {
    emulator = await startEmulator({ startTime: Date.parse('2026-12-03T12:00:00Z') });
    sqs = new SQSClient(emulator.clientConfig);
    queue = emulator.sqs.createQueue('swarm-prod');
  });
  afterEach(async () => {
    sqs.destroy();
    await emulator.close();
  });

  describe('SQS', () => {
    it('answers a long poll as soon as a message arrives', async () => {
      const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, WaitTimeSeconds: 20 }));
      await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: '{"wake":1}' }));

      const { Messages } = await polling;

      expect(Messages?.map((m) => m.Body)).toEqual(['{"wake":1}']);
    });

    it('ends an empty long poll when the simulated wait has passed', async () => {
      const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, WaitTimeSeconds: 20 }));
      await until(() => emulator.clock.pending() > 0);

      await emulator.clock.advance(20_000);

      expect((await polling).Messages).toBeUndefined();
    });

    it('hides a received message for its visibility timeout, then delivers it again until deleted', async () => {
      await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: 'm' }));
      const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, VisibilityTimeout: 5 }));
      const hidden = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue }));

      await emulator.clock.advance(5_000);
      const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue }));
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: queue, ReceiptHandle: again.Messages?.[0]?.ReceiptHandle }),
      );

      expect(first.Messages).toHaveLength(1);
      expect(hidden.Messages).toBeUndefined();
      expect(again.Messages?.[0]?.MessageId).toBe(first.Messages?.[0]?.MessageId);
      expect(emulator.sqs.depth(queue)).toBe(0);
    });

    it('refuses a wait over 20 s, an unknown queue and an operation it does not emulate, by name', async () => {
      const tooLong = sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, WaitTimeSeconds: 21 }));
      const unknown = sqs.send(new SendMessageCommand({ QueueUrl: `${queue}-nope`, MessageBody: 'x' }));
      const notEmulated = sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: queue, ReceiptHandle: 'x', VisibilityTimeout: 1 }),
      );

      await expect(tooLong).rejects.toMatchObject({ name: 'InvalidParameterValue' });
      await expect(unknown).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
      await expect(notEmulated).rejects.toMatchObject({ name: 'UnsupportedOperation' });
    });

    it('gives a queue URL by name, case-sensitively, and QueueDoesNotExist for an unknown name', async () => {
      // Act
      const found = await sqs.send(new GetQueueUrlCommand({ QueueName: 'swarm-prod' }));
      const otherCase = sqs.send(new GetQueueUrlCommand({ QueueName: 'Swarm-Prod' }));
      const otherAccount = sqs.send(
        new GetQueueUrlCommand({ QueueName: 'swarm-prod', QueueOwnerAWSAccountId: '111122223333' }),
      );

      // Assess
      expect(found.QueueUrl).toBe(queue);
      await expect(otherCase).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
      await expect(otherAccount).rejects.toMatchObject({ name: 'UnsupportedParameter' });
    });
  });

  describe('ECR GetAuthorizationToken', () => {
    it('returns the configured user:password in base64, valid 12 hours', async () => {
      emulator.ecr.setAuthorization({ username: 'lab', password: 's3cret' });
      const ecr = new ECRClient(emulator.clientConfig);

      const { authorizationData } = await ecr.send(new GetAuthorizationTokenCommand({}));
      ecr.destroy();

      const data = authorizationData?.[0];
      expect(Buffer.from(data?.authorizationToken ?? '', 'base64').toString()).toBe('lab:s3cret');
      expect(data?.expiresAt?.getTime()).toBe(emulator.clock.now() + 12 * 3_600_000);
      expect(data?.proxyEndpoint).toBe(`https://${emulator.ecr.registry}`);
    });
  });
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}
