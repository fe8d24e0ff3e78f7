/**
 * SQS as the swarm target uses it: the Lambda side drops a wake-up message in a swarm's queue and
 * the host agent long-polls it. Standard queues only; messages, visibility and delays live on the
 * emulator's simulated clock.
 *
 * Protocol: SQS's AWS JSON 1.0 protocol, `X-Amz-Target: AmazonSQS.<Operation>` (the SDK model:
 * `AwsJson1_0Protocol` in @aws-sdk/client-sqs; "Amazon SQS AWS JSON protocol", SQS Developer Guide,
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html).
 * Limits and defaults below are the API reference's (API_GetQueueUrl, API_SendMessage,
 * API_ReceiveMessage, API_DeleteMessage, API_CreateQueue pages of
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/), also in the SDK model
 * (`node_modules/@aws-sdk/client-sqs/dist-types/models/models_0.d.ts`).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { SimClock } from './clock.ts';
import { AwsError, type Params, type ServiceDefinition, UnsupportedParameter } from './protocol.ts';

/** ReceiveMessage `WaitTimeSeconds`: 0 to 20 (API_ReceiveMessage). */
const maxWaitSeconds = 20;
/** `VisibilityTimeout`: 0 to 43,200 s; the queue default is 30 s (API_ReceiveMessage, API_CreateQueue). */
const maxVisibilitySeconds = 43_200;
const defaultVisibilitySeconds = 30;
/** `DelaySeconds`: 0 to 900 (API_SendMessage). */
const maxDelaySeconds = 900;
/** Message size: up to 1,048,576 bytes (1 MiB), the default `MaximumMessageSize` (API_SetQueueAttributes). */
const maxMessageBytes = 1_048_576;
/** Queue names: 1-80 alphanumerics, hyphens, underscores; `.fifo` only for FIFO queues (API_CreateQueue). */
const queueNamePattern = /^[A-Za-z0-9_-]{1,80}$/;

interface Message {
  readonly id: string;
  readonly body: string;
  readonly md5: string;
  readonly sentAt: number;
  /** Simulated epoch ms from which a receive may return it (delay, then visibility timeout). */
  visibleAt: number;
  receiveCount: number;
  /** The handle of the latest receive; older handles no longer delete it. */
  receiptHandle?: string;
}

interface Waiter {
  readonly wake: () => void;
}

interface Queue {
  readonly name: string;
  readonly url: string;
  readonly messages: Message[];
  readonly waiters: Set<Waiter>;
}

function queuePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');

export class SqsState {
  readonly #queues = new Map<string, Queue>();
  readonly #clock: SimClock;
  readonly #account: string;
  readonly #endpoint: () => string;
  /** Ends every pending long poll (emulator closing). */
  readonly #closers = new Set<() => void>();

  /**
   * @param endpoint the emulator's URL once it listens. Queue URLs point at it (as moto's do):
   *   the SDK sends SQS calls to the QueueUrl's host by default (`useQueueUrlAsEndpoint`), so a
   *   client configured by `AWS_ENDPOINT_URL` alone still reaches the emulator.
   */
  constructor(clock: SimClock, account: string, endpoint: () => string) {
    this.#clock = clock;
    this.#account = account;
    this.#endpoint = endpoint;
  }

  /** Creates a standard queue (idempotent, as CreateQueue with the same attributes) and returns its URL. */
  createQueue(name: string): string {
    if (name.endsWith('.fifo'))
      throw new UnsupportedParameter(`CreateQueue: FIFO queues are not emulated ('${name}')`);
    if (!queueNamePattern.test(name)) {
      throw new AwsError(
        'InvalidParameterValue',
        `Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length (FIFO queues are not emulated): '${name}'`,
      );
    }
    const url = `${this.#endpoint()}/${this.#account}/${name}`;
    const path = queuePath(url);
    if (!this.#queues.has(path)) this.#queues.set(path, { name, url, messages: [], waiters: new Set() });
    return url;
  }

  /** Messages in the queue, visible or not (for assertions). */
  depth(url: string): number {
    return this.#queue(url).messages.length;
  }

  /** Ends pending long polls with no messages, as if their wait had expired. */
  close(): void {
    for (const close of [...this.#closers]) close();
  }

  #queue(url: string): Queue {
    // Found by path, so the AWS form `https://sqs.<region>.amazonaws.com/<account>/<name>` works too.
    const queue = this.#queues.get(queuePath(url));
    if (queue === undefined) {
      // The JSON protocol's name for AWS.SimpleQueueService.NonExistentQueue (SDK model errors.d.ts).
      throw new AwsError('QueueDoesNotExist', 'The specified queue does not exist.');
    }
    return queue;
  }

  #wakeAt(queue: Queue, at: number): void {
    this.#clock.schedule(at - this.#clock.now(), () => {
      for (const waiter of [...queue.waiters]) waiter.wake();
    });
  }

  #take(queue: Queue, max: number, visibilityMs: number) {
    const now = this.#clock.now();
    const taken = queue.messages.filter((m) => m.visibleAt <= now).slice(0, max);
    return taken.map((message) => {
      message.receiveCount += 1;
      message.visibleAt = now + visibilityMs;
      message.receiptHandle = randomBytes(48).toString('base64');
      // A message not deleted within its visibility timeout comes back: wake pollers then.
      if (visibilityMs > 0) this.#wakeAt(queue, message.visibleAt);
      return {
        MessageId: message.id,
        ReceiptHandle: message.receiptHandle,
        MD5OfBody: message.md5,
        Body: message.body,
      };
    });
  }

  #seconds(p: Params, key: string, max: number): number | undefined {
    const value = p.number(key);
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw new AwsError(
        'InvalidParameterValue',
        `Value ${value} for parameter ${key} is invalid. Reason: Must be an integer from 0 to ${max}.`,
      );
    }
    return value;
  }

  /**
   * Long poll: answers as soon as a message is visible, else when `waitSeconds` pass. The wait is
   * a timer on the simulated clock (which the sandbox runs faster than real time) raced with a
   * real timer of the same length, so a test whose simulated clock stands still still gets its
   * empty answer after real seconds, as from SQS.
   */
  async #receive(queue: Queue, max: number, visibilityMs: number, waitSeconds: number) {
    const now = this.#take(queue, max, visibilityMs);
    if (now.length > 0 || waitSeconds === 0) return now;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        queue.waiters.delete(waiter);
        this.#closers.delete(done);
        cancelSimulated();
        clearTimeout(real);
        resolve();
      };
      const waiter: Waiter = {
        wake: () => {
          if (queue.messages.some((m) => m.visibleAt <= this.#clock.now())) done();
        },
      };
      const cancelSimulated = this.#clock.schedule(waitSeconds * 1000, done);
      const real = setTimeout(done, waitSeconds * 1000);
      real.unref();
      queue.waiters.add(waiter);
      this.#closers.add(done);
    });
    return this.#take(queue, max, visibilityMs);
  }

  service(): ServiceDefinition {
    return {
      name: 'sqs',
      targetPrefix: 'AmazonSQS',
      // SQS's JSON protocol names malformed values InvalidParameterValue (API reference, Common Errors).
      validationError: 'InvalidParameterValue',
      operations: {
        CreateQueue: {
          keys: ['QueueName'],
          handle: (p: Params) => ({ QueueUrl: this.createQueue(p.requiredString('QueueName')) }),
        },
        GetQueueUrl: {
          // QueueOwnerAWSAccountId is only for another account's queue (API_GetQueueUrl); the
          // emulator has one account, so naming any other is refused as not emulated.
          keys: ['QueueName', 'QueueOwnerAWSAccountId'],
          handle: (p: Params) => {
            const owner = p.string('QueueOwnerAWSAccountId');
            if (owner !== undefined && owner !== this.#account) {
              throw new UnsupportedParameter(
                `GetQueueUrl: queues of another account (${owner}) are not emulated`,
              );
            }
            const name = p.requiredString('QueueName');
            const queue = [...this.#queues.values()].find((candidate) => candidate.name === name);
            // Queue names are case-sensitive (API_GetQueueUrl `QueueName`).
            if (queue === undefined) {
              throw new AwsError('QueueDoesNotExist', 'The specified queue does not exist.');
            }
            return { QueueUrl: queue.url };
          },
        },
        SendMessage: {
          keys: ['QueueUrl', 'MessageBody', 'DelaySeconds'],
          handle: (p: Params) => {
            const queue = this.#queue(p.requiredString('QueueUrl'));
            const body = p.requiredString('MessageBody');
            if (Buffer.byteLength(body, 'utf8') > maxMessageBytes) {
              throw new AwsError(
                'InvalidParameterValue',
                `One or more parameters are invalid. Reason: Message must be shorter than ${maxMessageBytes} bytes.`,
              );
            }
            const delay = this.#seconds(p, 'DelaySeconds', maxDelaySeconds) ?? 0;
            const now = this.#clock.now();
            const message: Message = {
              id: randomUUID(),
              body,
              md5: md5(body),
              sentAt: now,
              visibleAt: now + delay * 1000,
              receiveCount: 0,
            };
            queue.messages.push(message);
            if (delay === 0) for (const waiter of [...queue.waiters]) waiter.wake();
            else this.#wakeAt(queue, message.visibleAt);
            // The SDK checks MD5OfMessageBody against the body it sent.
            return { MessageId: message.id, MD5OfMessageBody: message.md5 };
          },
        },
        ReceiveMessage: {
          keys: ['QueueUrl', 'MaxNumberOfMessages', 'WaitTimeSeconds', 'VisibilityTimeout'],
          handle: (p: Params) => {
            const queue = this.#queue(p.requiredString('QueueUrl'));
            const max = p.number('MaxNumberOfMessages') ?? 1;
            if (!Number.isInteger(max) || max < 1 || max > 10) {
              throw new AwsError(
                'InvalidParameterValue',
                `Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
              );
            }
            const visibility =
              this.#seconds(p, 'VisibilityTimeout', maxVisibilitySeconds) ?? defaultVisibilitySeconds;
            const wait = this.#seconds(p, 'WaitTimeSeconds', maxWaitSeconds) ?? 0;
            return this.#receive(queue, max, visibility * 1000, wait).then((messages) =>
              // SQS leaves Messages out of an empty answer (API_ReceiveMessage "Response Elements").
              messages.length === 0 ? {} : { Messages: messages },
            );
          },
        },
        DeleteMessage: {
          keys: ['QueueUrl', 'ReceiptHandle'],
          handle: (p: Params) => {
            const queue = this.#queue(p.requiredString('QueueUrl'));
            const handle = p.requiredString('ReceiptHandle');
            const at = queue.messages.findIndex((m) => m.receiptHandle === handle);
            if (at < 0) {
              throw new AwsError(
                'ReceiptHandleIsInvalid',
                `The input receipt handle "${handle.slice(0, 16)}…" is not a valid receipt handle.`,
              );
            }
            queue.messages.splice(at, 1);
            return {};
          },
        },
      },
    };
  }
}
