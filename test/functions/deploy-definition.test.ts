import { readFileSync } from 'node:fs';
import validateAsl from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  catchRules,
  dynamodbIntegrationErrors,
  errorCatalogue,
  platformRetryableErrorNames,
  retryableErrorNames,
} from '../../functions/src/errors.ts';
import { serverlessConfigPath } from '../../sandbox/bus.ts';
import {
  type AslState,
  functionKeyOf,
  integrationOf,
  loadDeployDefinition,
  readDeployDefinition,
} from '../../sandbox/definition.ts';

const raw = readDeployDefinition();
const states = Object.entries(raw.States);
const taskStates = states.filter(([, state]) => state.Type === 'Task');
const lambdaStates = taskStates.filter(([, state]) => integrationOf(state) === undefined);
const integrationStates = taskStates.filter(([, state]) => integrationOf(state) !== undefined);
const lambdaArn = (key: string) => `arn:aws:lambda:eu-west-1:123456789012:function:gantry-dev-${key}`;

function errorNamesIn(state: AslState): string[] {
  const lists = [
    ...((state.Retry as { ErrorEquals: string[] }[]) ?? []),
    ...((state.Catch as { ErrorEquals: string[] }[]) ?? []),
  ];
  const names = lists.flatMap((entry) => entry.ErrorEquals);
  if (typeof state.Error === 'string') names.push(state.Error);
  return names;
}

describe('state-machines/deploy.asl.json', () => {
  it('is valid ASL once function ARNs are substituted', () => {
    // Prepare: asl-validator mutates its input, so it gets its own copy.
    const definition = structuredClone(
      loadDeployDefinition(lambdaArn, { coordinationTable: 'gantry-dev-coordination' }),
    );

    // Act
    const result = validateAsl(definition, { checkPaths: true, checkArn: true });

    // Assess
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('names only errors from the shared catalogue, Step Functions or Lambda', () => {
    const known = new Set<string>([
      ...Object.keys(errorCatalogue),
      ...platformRetryableErrorNames,
      dynamodbIntegrationErrors.conditionFailed,
      ...dynamodbIntegrationErrors.retryable,
    ]);
    const unknown = states
      .flatMap(([, state]) => errorNamesIn(state))
      .filter((name) => !known.has(name) && !name.startsWith('States.'));
    expect(unknown).toEqual([]);
  });

  it('retries every retryable error with backoff on every Lambda Task state', () => {
    for (const [name, state] of lambdaStates) {
      const retried = ((state.Retry as { ErrorEquals: string[]; BackoffRate?: number }[]) ?? []).filter(
        (retrier) => (retrier.BackoffRate ?? 1) > 1,
      );
      const names = retried.flatMap((retrier) => retrier.ErrorEquals);
      for (const error of [...retryableErrorNames, ...platformRetryableErrorNames]) {
        expect(names, `${name} retries ${error}`).toContain(error);
      }
    }
  });

  it('gives the record states a retry budget that outlasts a fleet-wide queue of Parameter Store writes', () => {
    // Each deploy writes its live release once; PutParameter's default is 3 a second, and the lock
    // lets each app/environment have one execution recording at a time, so at 1,000
    // app/environments the longest queue is 1,000 writes: 333 s. With full jitter a wait is uniform
    // between 0 and the backoff (Step Functions' error-handling page), so the expected budget is
    // half the sum of the capped backoffs; it must cover that queue twice over.
    const queueSeconds = 1000 / 3;
    for (const name of ['RecordRelease', 'RecordRollback', 'RecordRollbackFailed', 'RecordSuperseded']) {
      const retrier = (
        (raw.States[name]?.Retry ?? []) as {
          ErrorEquals: string[];
          IntervalSeconds: number;
          BackoffRate: number;
          MaxDelaySeconds: number;
          MaxAttempts: number;
          JitterStrategy?: string;
        }[]
      ).find((candidate) => candidate.ErrorEquals.includes('TransientAwsError'));
      if (retrier === undefined) throw new Error(`${name} does not retry TransientAwsError`);
      let expectedSeconds = 0;
      for (let attempt = 0; attempt < retrier.MaxAttempts; attempt++) {
        const backoff = Math.min(
          retrier.IntervalSeconds * retrier.BackoffRate ** attempt,
          retrier.MaxDelaySeconds,
        );
        expectedSeconds += retrier.JitterStrategy === 'FULL' ? backoff / 2 : backoff;
      }
      expect(expectedSeconds, name).toBeGreaterThanOrEqual(2 * queueSeconds);
    }
  });

  it('catches every error on every Task state, so no failure skips the lock release or rollback', () => {
    for (const [name, state] of taskStates) {
      const caught = ((state.Catch as { ErrorEquals: string[] }[]) ?? []).flatMap(
        (catcher) => catcher.ErrorEquals,
      );
      expect(caught, name).toContain('States.ALL');
    }
  });

  it('retries DynamoDB throttling and server faults with backoff on every DynamoDB integration state', () => {
    expect(integrationStates.map(([name]) => name)).toEqual(['ReleaseLock']);
    for (const [name, state] of integrationStates) {
      const retried = ((state.Retry as { ErrorEquals: string[]; BackoffRate?: number }[]) ?? [])
        .filter((retrier) => (retrier.BackoffRate ?? 1) > 1)
        .flatMap((retrier) => retrier.ErrorEquals);
      expect(retried, name).toEqual([...dynamodbIntegrationErrors.retryable]);
    }
  });

  it('releases the lock with a conditional delete naming this execution', () => {
    const state = raw.States.ReleaseLock;
    expect(state?.Resource).toBe('arn:aws:states:::dynamodb:deleteItem');
    expect(state?.Parameters).toMatchObject({
      TableName: expect.stringMatching(/^\$\{coordinationTable\}$/),
      ConditionExpression: 'holder = :me',
      ExpressionAttributeValues: { ':me': { 'S.$': '$$.Execution.Id' } },
    });
  });

  it("catches by the catalogue's catch rules: nothing changed skips the rollback, a lock not held is no failure", () => {
    const catchers = (name: string) =>
      ((raw.States[name]?.Catch as { ErrorEquals: string[]; Next: string }[]) ?? []).map(
        ({ ErrorEquals, Next }) => ({ ErrorEquals, Next }),
      );
    expect(catchers('Deploy')[0]).toEqual({
      ErrorEquals: [...catchRules.nothingChanged],
      Next: 'ReleaseLock',
    });
    expect(catchers('ReleaseLock')[0]).toEqual({
      ErrorEquals: [...catchRules.lockNotHeld],
      Next: 'HowDidItEnd?',
    });
  });

  it('parks a waiting request on a task token with a fallback timeout, never a polling loop', () => {
    const state = raw.States.WaitForLock;
    expect(state?.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(state?.TimeoutSecondsPath).toBe('$.lock.retryAfterSeconds');
    expect(state?.Parameters?.Payload).toMatchObject({ 'timeoutSeconds.$': '$.lock.retryAfterSeconds' });
    // The one Wait state is the Lightsail health gate's, bounded by its number of checks.
    expect(states.filter(([, candidate]) => candidate.Type === 'Wait').map(([name]) => name)).toEqual([
      'WaitForHealthGate',
    ]);
  });

  it("orders a swarm rollback that paused once more, forced, from the rollback's wait and its timeout path", () => {
    for (const name of ['WaitForRollback', 'CheckRollback']) {
      const catchers =
        (raw.States[name]?.Catch as { ErrorEquals: string[]; Next: string; ResultPath: string }[]) ?? [];
      expect(catchers[catchers.length - 2]).toEqual({
        ErrorEquals: [...catchRules.rollbackPaused],
        ResultPath: '$.rollbackPaused',
        Next: 'Rollback',
      });
    }
  });

  it('loops the Lightsail health gate only through its check, bounded by the check count', () => {
    expect(raw.States['HealthGate?']).toMatchObject({
      Choices: [
        { Variable: '$.plan.config.target.lightsail.loadBalancer', IsPresent: true, Next: 'StartHealthGate' },
      ],
      Default: 'RecordRelease',
    });
    expect(raw.States.WaitForHealthGate).toMatchObject({
      SecondsPath: '$.healthGate.nextCheckInSeconds',
      Next: 'CheckHealthGate',
    });
    expect(raw.States.CheckHealthGate?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Rollback' },
    ]);
  });

  it('uses a serverless.yml function key for every Lambda Task state', () => {
    const declared = parse(readFileSync(serverlessConfigPath, 'utf8')) as {
      functions: Record<string, unknown>;
    };
    const keys = lambdaStates.map(([, state]) => functionKeyOf(state));
    expect(keys).not.toContain(undefined);
    for (const key of keys) expect(Object.keys(declared.functions)).toContain(key);
  });

  it('waits for rollouts on a task token with a timeout from the config', () => {
    for (const name of ['WaitForRollout', 'WaitForRollback']) {
      const state = raw.States[name];
      expect(state?.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
      expect(state?.TimeoutSecondsPath).toBe('$.plan.config.health.timeoutSeconds');
      expect(state?.Parameters?.Payload).toMatchObject({ 'taskToken.$': '$$.Task.Token' });
    }
  });
});
