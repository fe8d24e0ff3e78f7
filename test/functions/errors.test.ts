import { AccessDeniedException, ECSServiceException, ServerException } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import {
  awsCall,
  classifyAwsError,
  DeployFailed,
  retryableErrorNames,
  TransientAwsError,
} from '../../functions/src/errors.ts';

const awsError = (name: string, status: number) =>
  new ECSServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });

describe('errors', () => {
  describe('classifyAwsError', () => {
    it.each([
      'ThrottlingException',
      'Throttling',
      'TooManyRequestsException',
      'RequestLimitExceeded',
      'ProvisionedThroughputExceededException',
    ])('renames %s to TransientAwsError, keeping the original as cause', (name) => {
      // Prepare
      const original = awsError(name, 400);

      // Act
      const classified = classifyAwsError(original, 'describing service web');

      // Assess
      expect(classified).toBeInstanceOf(TransientAwsError);
      expect(classified).toMatchObject({
        name: 'TransientAwsError',
        message: `describing service web: ${name}: ${original.message}`,
        cause: original,
      });
    });

    it('renames ECS ServerException', () => {
      const original = new ServerException({ message: 'internal error', $metadata: { httpStatusCode: 500 } });

      expect(classifyAwsError(original, 'x')).toMatchObject({ name: 'TransientAwsError', cause: original });
    });

    it.each([500, 502, 503])('renames a %i whatever its name', (status) => {
      const original = awsError('Unknown', status);

      expect(classifyAwsError(original, 'x')).toMatchObject({ name: 'TransientAwsError', cause: original });
    });

    it('leaves a 4xx with an unlisted name alone', () => {
      const original = awsError('Unknown', 409);

      expect(classifyAwsError(original, 'x')).toBe(original);
    });

    it('renames network faults by their code', () => {
      const original = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

      expect(classifyAwsError(original, 'x')).toMatchObject({ name: 'TransientAwsError' });
    });

    it('leaves a final client error alone', () => {
      const original = new AccessDeniedException({
        message: 'not authorized',
        $metadata: { httpStatusCode: 400 },
      });

      expect(classifyAwsError(original, 'x')).toBe(original);
    });

    it('leaves Gantry errors and non-errors alone', () => {
      const gantry = new DeployFailed('no service');

      expect(classifyAwsError(gantry, 'x')).toBe(gantry);
      expect(classifyAwsError('boom', 'x')).toBe('boom');
    });
  });

  describe('awsCall', () => {
    it('rethrows a throttled call as TransientAwsError', async () => {
      await expect(
        awsCall('listing tasks', () => Promise.reject(awsError('ThrottlingException', 400))),
      ).rejects.toMatchObject({
        name: 'TransientAwsError',
        message: expect.stringContaining('listing tasks'),
      });
    });

    it('returns the call result when it succeeds', async () => {
      await expect(awsCall('x', () => Promise.resolve(42))).resolves.toBe(42);
    });
  });

  describe('catalogue', () => {
    it('marks only TransientAwsError retryable', () => {
      expect(retryableErrorNames).toEqual(['TransientAwsError']);
    });
  });
});
