import { describe, expect, it } from 'vitest';
import { parseDeployConfig } from '../../functions/src/config/load-config.ts';
import { parseDeployRequest } from '../../functions/src/deploy-plan.ts';
import { ConfigInvalid } from '../../functions/src/errors.ts';
import { parseRollbackTrigger } from '../../functions/src/rollback-request.ts';
import { thrownBy } from '../support/aws-fixtures.ts';

/**
 * The Lambdas validate with `zod/mini`, which registers no locale of its own: these are the
 * sentences people read in a refused config or request, word for word as classic zod wrote them.
 * This file imports nothing that loads classic zod, so a missing locale would show here as
 * "Invalid input" everywhere.
 */
describe('validation messages', () => {
  it('names each bad config field with a sentence saying what is wrong', () => {
    // Prepare
    const bad = {
      repository: 'Web',
      target: { type: 'ecs', cluster: '', service: 'web', container: 'app' },
      health: { timeoutSeconds: 5, maxFailedTasks: 2.5 },
      rollbackAlarms: [''],
      tagPatern: '^v',
    };

    // Act
    const error = thrownBy(() => parseDeployConfig('/gantry/web/prod/config', JSON.stringify(bad)));

    // Assess
    expect(error).toBeInstanceOf(ConfigInvalid);
    expect((error as ConfigInvalid).issues).toEqual([
      'repository: an ECR repository name',
      'target.cluster: Too small: expected string to have >=1 characters',
      'health.timeoutSeconds: Too small: expected number to be >=60',
      'health.maxFailedTasks: Invalid input: expected int, received number',
      'rollbackAlarms.0: Too small: expected string to have >=1 characters',
      '(root): unknown key(s) tagPatern',
    ]);
  });

  it('says which type a config field expected and which bound it crossed', () => {
    // Prepare
    const bad = {
      repository: 'web',
      target: { type: 'ecs', cluster: 'prod', service: 'web', container: 'app' },
      health: { timeoutSeconds: '900', maxFailedTasks: 51 },
    };

    // Act
    const error = thrownBy(() => parseDeployConfig('/gantry/web/prod/config', JSON.stringify(bad)));

    // Assess
    expect((error as ConfigInvalid).issues).toEqual([
      'health.timeoutSeconds: Invalid input: expected number, received string',
      'health.maxFailedTasks: Too big: expected number to be <=50',
    ]);
  });

  it('refuses an execution input naming each problem', () => {
    // Prepare
    const input = { app: 'web', env: 'prod', requestedAt: 'yesterday', reason: 'r'.repeat(501) };

    // Act
    const error = thrownBy(() => parseDeployRequest(input));

    // Assess
    expect(error).toMatchObject({
      name: 'InputInvalid',
      message:
        'execution input is invalid: reason: Too big: expected string to have <=500 characters; requestedAt: Invalid ISO datetime; (root): give exactly one of "image", "rollback": true or "restore": true',
    });
  });

  it('ignores a malformed Rollback Requested event saying what is wrong with it', () => {
    // Prepare
    const event = {
      id: 'event-1',
      'detail-type': 'Rollback Requested',
      time: '2026-01-01T00:00:00Z',
      detail: { app: 'Web', env: 'prod', reason: 'r'.repeat(401) },
    };

    // Act
    const trigger = parseRollbackTrigger(event);

    // Assess
    expect(trigger).toEqual({
      ignored:
        'Rollback Requested needs a detail of app, env and an optional reason (at most 400 characters): ✖ lower-case letters, digits and dashes, at most 40 characters\n  → at detail.app\n✖ Too big: expected string to have <=400 characters\n  → at detail.reason',
    });
  });
});
