import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  ExecutionDoesNotExist,
  InvalidArn,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputInvalid } from '../../functions/src/errors.ts';
import { appendRelease, type ReleaseRecord } from '../../functions/src/release.ts';
import { failureSearchDepth, readForensics } from '../../functions/src/status-forensics.ts';
import { desired, live, older } from '../support/deploy-states.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

/* `gantry why`: the forensics of an app/env's last failure, read back from its execution. */

const where = { app: 'web', env: 'prod' };
const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const executionOf = (name: string) =>
  `arn:aws:states:eu-west-1:123456789012:execution:gantry-dev-deploy:${name}`;
const recordOf = (kind: ReleaseRecord['kind'], n: number): ReleaseRecord => ({
  kind,
  ...live,
  at: new Date(Date.UTC(2025, 5, 1) + n * 60_000).toISOString(),
  executionArn: executionOf(`push-web-prod-${n}`),
  previous: older,
  ...(kind !== 'release' && { rolledBackFrom: desired }),
});
const stoppedTask = {
  taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/web/0123456789abcdef',
  stopCode: 'EssentialContainerExited',
  stoppedReason: 'Essential container in task exited',
  containers: [{ name: 'web', exitCode: 137 }],
};
/** A rolled-back deploy as DescribeExecution answers it: Gantry's error, its details as JSON in the cause. */
const failedExecution = (overrides: Partial<DescribeExecutionCommandOutput> = {}) => ({
  executionArn: executionOf('push-web-prod-2'),
  stateMachineArn,
  status: 'FAILED' as const,
  startDate: new Date('2025-06-01T00:01:00.000Z'),
  stopDate: new Date('2025-06-01T00:09:30.000Z'),
  input: JSON.stringify({ app: 'web', env: 'prod', source: 'ecr', image: desired.image }),
  error: 'RolloutFailed',
  cause: JSON.stringify({
    message: '1 task(s) of the new deployment stopped (limit 1)',
    deploymentId: 'ecs-svc/1234567890123456789',
    ecsRolledBack: true,
    stoppedTasks: [stoppedTask],
    event: { 'detail-type': 'ECS Task State Change' },
    limit: 1,
  }),
  ...overrides,
});

let table: ReturnType<typeof fakeCoordinationTable>;
const sfn = mockClient(SFNClient);
const read = (execution?: string) =>
  readForensics({ table: table.table, sfn: sfn as unknown as SFNClient, stateMachineArn }, where, execution);

beforeEach(() => {
  table = fakeCoordinationTable();
});

afterEach(() => {
  table.mock.reset();
  sfn.reset();
});

describe('readForensics', () => {
  it('is undefined when the history holds no rollback, asking Step Functions nothing', async () => {
    // Prepare
    await appendRelease(table.table, where, recordOf('release', 1));

    // Act
    const forensics = await read();

    // Assess
    expect(forensics).toBeUndefined();
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it("reads the newest rollback's execution: stopped tasks, deployment, event and the rest", async () => {
    // Prepare
    await appendRelease(table.table, where, recordOf('release', 1));
    await appendRelease(table.table, where, recordOf('rollback', 2));
    await appendRelease(table.table, where, recordOf('release', 3));
    sfn.on(DescribeExecutionCommand).resolves(failedExecution());

    // Act
    const forensics = await read();

    // Assess
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: executionOf('push-web-prod-2'),
    });
    expect(forensics).toEqual({
      app: 'web',
      env: 'prod',
      executionArn: executionOf('push-web-prod-2'),
      status: 'FAILED',
      startedAt: '2025-06-01T00:01:00.000Z',
      stoppedAt: '2025-06-01T00:09:30.000Z',
      request: { source: 'ecr', image: desired.image },
      record: recordOf('rollback', 2),
      error: 'RolloutFailed',
      message: '1 task(s) of the new deployment stopped (limit 1)',
      deploymentId: 'ecs-svc/1234567890123456789',
      targetRolledBack: true,
      stoppedTasks: [stoppedTask],
      event: { 'detail-type': 'ECS Task State Change' },
      otherDetails: { limit: 1 },
    });
  });

  it('looks for the last failure within one page of history', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves(failedExecution());

    // Act
    await read();

    // Assess
    expect(table.mock.calls()[0]?.args[0].input).toMatchObject({ Limit: failureSearchDepth });
  });

  it('finds a failed rollback too', async () => {
    // Prepare
    await appendRelease(table.table, where, recordOf('rollback-failed', 4));
    sfn
      .on(DescribeExecutionCommand)
      .resolves(failedExecution({ executionArn: executionOf('push-web-prod-4') }));

    // Act
    const forensics = await read();

    // Assess
    expect(forensics?.executionArn).toBe(executionOf('push-web-prod-4'));
    expect(forensics?.record).toEqual(recordOf('rollback-failed', 4));
  });

  it('reads an execution named by its name under the state machine, and one named by its ARN as is', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves(failedExecution());

    // Act
    await read('push-web-prod-7');
    await read(executionOf('push-web-prod-8'));

    // Assess
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input.executionArn)).toEqual(
      [executionOf('push-web-prod-7'), executionOf('push-web-prod-8')],
    );
  });

  it('gives the reason and the rollback flag of a requested rollback, and no record it did not write', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves(
      failedExecution({
        input: JSON.stringify({
          app: 'web',
          env: 'prod',
          source: 'cli',
          reason: 'errors up',
          rollback: true,
        }),
      }),
    );

    // Act
    const forensics = await read('push-web-prod-2');

    // Assess
    expect(forensics?.request).toStrictEqual({ source: 'cli', reason: 'errors up', rollback: true });
    expect(forensics).not.toHaveProperty('record');
  });

  it('keeps only what the execution answered: no dates, no error, no tasks', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: executionOf('push-web-prod-2'),
      input: JSON.stringify(where),
    });

    // Act
    const forensics = await read('push-web-prod-2');

    // Assess
    expect(forensics).toStrictEqual({
      app: 'web',
      env: 'prod',
      executionArn: executionOf('push-web-prod-2'),
      status: 'UNKNOWN',
      request: {},
      stoppedTasks: [],
      otherDetails: {},
    });
  });

  it('gives the error with its cause as the message when the cause is plain text', async () => {
    // Prepare
    sfn
      .on(DescribeExecutionCommand)
      .resolves(failedExecution({ error: 'States.Timeout', cause: 'the task timed out' }));

    // Act
    const forensics = await read('push-web-prod-2');

    // Assess
    expect(forensics).toMatchObject({
      error: 'States.Timeout',
      message: 'the task timed out',
      otherDetails: {},
    });
  });

  it('gives the error as the message when there is no cause', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves(failedExecution({ error: 'States.Runtime', cause: undefined }));

    // Act
    const forensics = await read('push-web-prod-2');

    // Assess
    expect(forensics).toMatchObject({ error: 'States.Runtime', message: 'States.Runtime' });
  });

  it("leaves the Lambda error's own fields out of the other details", async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves(
      failedExecution({
        cause: JSON.stringify({
          errorType: 'RolloutFailed',
          errorMessage: JSON.stringify({ message: 'stopped', limit: 2 }),
          trace: ['at rollout'],
        }),
      }),
    );

    // Act
    const forensics = await read('push-web-prod-2');

    // Assess
    expect(forensics?.message).toBe('stopped');
    expect(forensics?.otherDetails).toEqual({ limit: 2 });
  });

  it('ignores details of the wrong type rather than passing them on as what they are not', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves(
      failedExecution({
        cause: JSON.stringify({ message: 'odd', deploymentId: 7, ecsRolledBack: 'yes', stoppedTasks: 2 }),
      }),
    );

    // Act
    const forensics = await read('push-web-prod-2');

    // Assess
    expect(forensics).not.toHaveProperty('deploymentId');
    expect(forensics).not.toHaveProperty('targetRolledBack');
    expect(forensics?.stoppedTasks).toEqual([]);
  });

  it('keeps a circuit breaker that did not roll back as false', async () => {
    // Prepare
    sfn
      .on(DescribeExecutionCommand)
      .resolves(failedExecution({ cause: JSON.stringify({ message: 'timed out', ecsRolledBack: false }) }));

    // Act
    const forensics = await read('push-web-prod-2');

    // Assess
    expect(forensics?.targetRolledBack).toBe(false);
  });

  it.each([
    [
      'ExecutionDoesNotExist',
      new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }),
    ],
    ['InvalidArn', new InvalidArn({ message: 'Invalid Arn', $metadata: {} })],
  ])(
    'refuses an execution Step Functions does not know (%s), saying how long it keeps them',
    async (_, error) => {
      // Prepare
      sfn.on(DescribeExecutionCommand).rejects(error);

      // Act
      const reading = read('push-web-prod-9');

      // Assess
      await expect(reading).rejects.toThrow(InputInvalid);
      await expect(reading).rejects.toThrow(
        `no execution ${executionOf('push-web-prod-9')} (Step Functions keeps ended executions 90 days)`,
      );
    },
  );

  it('passes any other Step Functions error on as it is classified, not as a missing execution', async () => {
    // Prepare
    sfn
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    // Act
    const reading = read('push-web-prod-9');

    // Assess
    await expect(reading).rejects.toMatchObject({ name: 'TransientAwsError' });
    await expect(reading).rejects.toThrow(/^describing the execution: ThrottlingException/);
  });

  it.each([
    ['another app', { app: 'api', env: 'prod' }, 'deployed api/prod, not web/prod'],
    ['another env', { app: 'web', env: 'staging' }, 'deployed web/staging, not web/prod'],
    ['no input', undefined, 'deployed undefined/undefined, not web/prod'],
  ])('refuses an execution of %s, naming both', async (_, input, says) => {
    // Prepare
    sfn
      .on(DescribeExecutionCommand)
      .resolves(failedExecution({ input: input === undefined ? undefined : JSON.stringify(input) }));

    // Act
    const reading = read('push-web-prod-2');

    // Assess
    await expect(reading).rejects.toThrow(InputInvalid);
    await expect(reading).rejects.toThrow(`execution ${executionOf('push-web-prod-2')} ${says}`);
  });
});
