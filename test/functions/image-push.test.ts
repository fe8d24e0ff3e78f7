import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ImagePush,
  type PushDependencies,
  parseImagePush,
  routeImagePush,
} from '../../functions/src/image-push.ts';
import { isIgnored } from '../../functions/src/tracking.ts';
import { loadEvent, story, webConfig } from '../support/aws-fixtures.ts';
import { answerStartExecution } from '../support/sfn-mock.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';
import { fakeCoordinationTable } from '../support/table-fake.ts';

const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-dev-deploy';
const pushEvent = loadEvent<{ detail: Record<string, unknown> }>('ecr-image-push.json');
const untaggedEvent = loadEvent('ecr-image-push-untagged.json');
const pushedImage = `${story.registry}/web:v1.4.2@${story.digest}`;

const sfnMock = mockClient(SFNClient);
let ssm: ReturnType<typeof fakeParameterStore>;
let table: ReturnType<typeof fakeCoordinationTable>;

/** Config parameters as Powertools' getMultiple returns them: relative names, every kind. */
let stored: Record<string, string>;

/**
 * The stored configs are in Parameter Store too (GetParameters reads them by name); the index is
 * empty unless a test fills it, so routing starts with the scan of a repository never seen.
 */
function deps(): PushDependencies {
  for (const [name, value] of Object.entries(stored)) {
    if (name.endsWith('/config') && ssm.parameters.get(`/gantry/${name}`)?.value !== value) {
      ssm.put(`/gantry/${name}`, value);
    }
  }
  return {
    ssm: ssm.client,
    sfn: new SFNClient({ region: story.region }),
    table: table.table,
    configSource: async () => stored,
    parameterPrefix: '/gantry',
    stateMachineArn,
  };
}

/** The push an event announces; fails the test if the event is ignored. */
function pushOf(event: unknown): ImagePush {
  const push = parseImagePush(event);
  if (isIgnored(push)) throw new Error(`unexpectedly ignored: ${push.ignored}`);
  return push;
}

function startedInputs() {
  return sfnMock.commandCalls(StartExecutionCommand).map((call) => ({
    name: call.args[0].input.name,
    input: JSON.parse(call.args[0].input.input ?? '{}') as Record<string, unknown>,
  }));
}

beforeEach(() => {
  ssm = fakeParameterStore();
  table = fakeCoordinationTable();
  stored = {
    'web/prod/config': JSON.stringify(webConfig),
    'web/staging/config': JSON.stringify({ ...webConfig, tagPattern: '^v' }),
    'web/prod/release': '{"not":"a config"}',
    'web/prod/lock': '{}',
    'web/preview/config': JSON.stringify({ ...webConfig, tagPattern: undefined }),
    'web/canary/config': JSON.stringify({ ...webConfig, tagPattern: '^v\\d+\\.\\d+\\.\\d+-rc' }),
    'api/prod/config': JSON.stringify({ ...webConfig, repository: 'api' }),
  };
  answerStartExecution(sfnMock, stateMachineArn);
});

afterEach(() => {
  ssm.mock.reset();
  table.mock.reset();
  sfnMock.reset();
});

describe('image push', () => {
  describe('parseImagePush', () => {
    it('reads repository, digest, tag, registry and push time from a PUSH SUCCESS event', () => {
      expect(parseImagePush(pushEvent)).toEqual({
        repository: 'web',
        digest: story.digest,
        tag: 'v1.4.2',
        registry: story.registry,
        pushedAt: '2025-06-03T10:15:01Z',
      });
    });

    it('tells an ignored event from a push', () => {
      const deleted = { ...pushEvent, detail: { ...pushEvent.detail, 'action-type': 'DELETE' } };

      expect(isIgnored(parseImagePush(deleted))).toBe(true);
      expect(isIgnored(parseImagePush(pushEvent))).toBe(false);
    });

    it('treats the empty image-tag of a child manifest as no tag', () => {
      expect(parseImagePush(untaggedEvent)).not.toHaveProperty('tag');
    });

    it.each([
      ['a DELETE', { 'action-type': 'DELETE' }, 'ECR DELETE SUCCESS is not a successful push'],
      ['a FAILED push', { result: 'FAILED' }, 'ECR PUSH FAILED is not a successful push'],
    ])('ignores %s, saying why, without throwing', (_, change, why) => {
      // Prepare
      const event = { ...pushEvent, detail: { ...pushEvent.detail, ...change } };

      // Act, Assess
      expect(parseImagePush(event)).toEqual({ ignored: why });
    });

    it.each(['image-digest', 'repository-name', 'action-type'])(
      'ignores an ECR Image Action without %s, saying why, without throwing',
      (field) => {
        // Prepare
        const { [field]: _, ...detail } = pushEvent.detail;

        // Act, Assess
        expect(parseImagePush({ ...pushEvent, detail })).toEqual({
          ignored: 'not an ECR Image Action event with a repository and a digest',
        });
      },
    );

    it('ignores an event of another kind, saying why, without throwing', () => {
      // Act, Assess
      expect(parseImagePush(loadEvent('ecs-deployment-completed.json'))).toEqual({
        ignored: 'not an ECR Image Action event with a repository and a digest',
      });
    });

    it('quotes at most 80 characters of a malformed digest', () => {
      // Prepare
      const digest = `sha256:${'g'.repeat(200)}`;
      const event = { ...pushEvent, detail: { ...pushEvent.detail, 'image-digest': digest } };

      // Act, Assess
      expect(parseImagePush(event)).toEqual({
        ignored: `digest "${digest.slice(0, 80)}" is not sha256: and 64 hex digits`,
      });
    });

    it.each([
      ['no algorithm', 'a'.repeat(64)],
      ['another algorithm', `sha512:${'a'.repeat(128)}`],
      ['63 hex digits', `sha256:${'a'.repeat(63)}`],
      ['upper-case hex', `sha256:${'A'.repeat(64)}`],
      ['a trailing newline', `sha256:${'a'.repeat(64)}\n`],
      ['something before the algorithm', ` sha256:${'a'.repeat(64)}`],
    ])('refuses a push whose digest has %s, before anything starts', (_, digest) => {
      // Prepare
      const event = { ...pushEvent, detail: { ...pushEvent.detail, 'image-digest': digest } };

      // Act, Assess
      expect(parseImagePush(event)).toEqual({
        ignored: expect.stringMatching(/^digest ".*" is not sha256: and 64 hex digits$/s),
      });
    });
  });

  describe('routeImagePush', () => {
    it('reads only <app>/<env>/config parameters, not those nested deeper or beside them', async () => {
      // Prepare: configs-like parameters at other depths, each tracking the pushed tag.
      stored = {
        'web/prod/config': JSON.stringify(webConfig),
        'web/prod/config/previous': JSON.stringify(webConfig),
        'team/web/prod/config': JSON.stringify(webConfig),
        'web/config': JSON.stringify(webConfig),
      };

      // Act
      const routed = await routeImagePush(deps(), pushOf(pushEvent));

      // Assess
      expect(routed.decisions).toEqual([
        expect.objectContaining({ app: 'web', env: 'prod', action: 'started' }),
      ]);
      expect(routed.invalidConfigs).toEqual([]);
    });

    it('starts a deploy for every app/environment whose tagPattern matches', async () => {
      // Act
      const routed = await routeImagePush(deps(), pushOf(pushEvent));

      // Assess
      expect(routed.ignored).toBeUndefined();
      expect(routed.invalidConfigs).toEqual([]);
      expect(routed.decisions.map(({ app, env, action }) => `${app}/${env}:${action}`).sort()).toEqual([
        'web/prod:started',
        'web/staging:started',
      ]);
      expect(startedInputs().map(({ input }) => input)).toEqual(
        expect.arrayContaining(
          ['prod', 'staging'].map((env) => ({
            app: 'web',
            env,
            image: pushedImage,
            source: 'ecr-push',
            requestedAt: '2025-06-03T10:15:01Z',
          })),
        ),
      );
      expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 2);
      expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn });
    });

    it('returns the started execution ARN', async () => {
      stored = { 'web/prod/config': JSON.stringify(webConfig) };

      const { decisions } = await routeImagePush(deps(), pushOf(pushEvent));

      const name = startedInputs()[0]?.name ?? 'none';
      expect(decisions).toEqual([
        {
          app: 'web',
          env: 'prod',
          action: 'started',
          executionArn: expect.stringMatching(new RegExp(`:${name}$`)),
        },
      ]);
    });

    it('names the execution deterministically, so the same event twice gets the same name', async () => {
      stored = { 'web/prod/config': JSON.stringify(webConfig) };

      await routeImagePush(deps(), pushOf(pushEvent));
      await routeImagePush(deps(), pushOf(structuredClone(pushEvent)));

      const [first, second] = startedInputs();
      expect(first?.name).toMatch(/^push-web-prod-[0-9a-f]{20}$/);
      expect(second?.name).toBe(first?.name);
    });

    it('names executions differently for another digest or another environment', async () => {
      const otherDigest = {
        ...pushEvent,
        detail: { ...pushEvent.detail, 'image-digest': story.previousDigest },
      };

      await routeImagePush(deps(), pushOf(pushEvent));
      await routeImagePush(deps(), pushOf(otherDigest));

      expect(new Set(startedInputs().map(({ name }) => name)).size).toBe(4);
    });

    it('ignores an untagged manifest', async () => {
      const routed = await routeImagePush(deps(), pushOf(untaggedEvent));

      expect(routed).toEqual({ decisions: [], ignored: 'untagged manifest', invalidConfigs: [] });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it('ignores a tag no app/environment tracks, saying why', async () => {
      const latest = { ...pushEvent, detail: { ...pushEvent.detail, 'image-tag': 'latest' } };

      const routed = await routeImagePush(deps(), pushOf(latest));

      expect(routed).toEqual({
        decisions: [],
        ignored: 'no app/environment tracks web:latest',
        invalidConfigs: [],
      });
      expect(sfnMock).not.toHaveReceivedAnyCommand();
    });

    it('skips an app/environment whose live release already runs the digest', async () => {
      ssm.put('/gantry/web/prod/release', {
        kind: 'release',
        image: `${story.registry}/web@${story.digest}`,
        digest: story.digest,
        tag: 'v1.4.2',
        taskDefinitionArn: story.taskDefinitionArn,
        at: '2025-06-03T10:19:30Z',
        executionArn: story.executionArn,
        previous: null,
      });

      const { decisions } = await routeImagePush(deps(), pushOf(pushEvent));

      expect(decisions).toContainEqual({
        app: 'web',
        env: 'prod',
        action: 'skipped',
        why: `${story.digest} is already live`,
      });
      expect(startedInputs().map(({ input }) => input.env)).toEqual(['staging']);
    });

    it('deploys the digest again when the last record is a failed rollback of it', async () => {
      stored = { 'web/prod/config': JSON.stringify(webConfig) };
      ssm.put('/gantry/web/prod/release', {
        kind: 'rollback-failed',
        image: `${story.registry}/web@${story.digest}`,
        digest: story.digest,
        taskDefinitionArn: story.taskDefinitionArn,
        at: '2025-06-03T10:25:00Z',
        executionArn: story.executionArn,
        previous: null,
      });

      const { decisions } = await routeImagePush(deps(), pushOf(pushEvent));

      expect(decisions).toEqual([expect.objectContaining({ app: 'web', env: 'prod', action: 'started' })]);
    });

    it('skips as a duplicate when Step Functions already has the execution', async () => {
      stored = { 'web/prod/config': JSON.stringify(webConfig) };
      sfnMock
        .on(StartExecutionCommand)
        .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

      const { decisions } = await routeImagePush(deps(), pushOf(pushEvent));

      expect(decisions).toEqual([
        {
          app: 'web',
          env: 'prod',
          action: 'skipped',
          why: `a deploy of ${story.digest} was already started`,
        },
      ]);
    });

    it('reports an invalid config and still routes the others', async () => {
      stored['web/qa/config'] = JSON.stringify({
        ...webConfig,
        tagPatern: '^v',
        health: { timeoutSeconds: 1 },
      });

      const routed = await routeImagePush(deps(), pushOf(pushEvent));

      expect(routed.invalidConfigs).toEqual([
        expect.stringMatching(
          /^web\/qa: (?=.*health\.timeoutSeconds: )(?=.*\(root\): unknown key\(s\) tagPatern)[^;]+; [^;]+$/,
        ),
      ]);
      expect(routed.decisions.filter(({ action }) => action === 'started')).toHaveLength(2);
    });

    it('turns a throttled StartExecution into TransientAwsError', async () => {
      sfnMock.on(StartExecutionCommand).rejects(
        Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        }),
      );

      await expect(routeImagePush(deps(), pushOf(pushEvent))).rejects.toMatchObject({
        name: 'TransientAwsError',
      });
    });
  });
});
