import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDeployConfig, parseDeployConfig } from '../../functions/src/config/load-config.ts';
import { deployConfigSchema } from '../../functions/src/config/schema.ts';
import { ConfigInvalid } from '../../functions/src/errors.ts';
import { thrownBy } from '../support/aws-fixtures.ts';
import { fakeParameterStore } from '../support/ssm-fake.ts';

const name = '/gantry/web/prod/config';
const minimal = {
  repository: 'web',
  target: { type: 'ecs', cluster: 'prod', service: 'web', container: 'app' },
};

describe('config', () => {
  describe('parseDeployConfig', () => {
    it('applies defaults to a minimal config', () => {
      // Act
      const config = parseDeployConfig(name, JSON.stringify(minimal));

      // Assess
      expect(config).toEqual({
        ...minimal,
        health: { timeoutSeconds: 900, maxFailedTasks: 2 },
        rollbackAlarms: [],
      });
      expect(config).not.toHaveProperty('tagPattern');
    });

    it('fills a partial health block with the missing defaults', () => {
      const config = parseDeployConfig(name, JSON.stringify({ ...minimal, health: { maxFailedTasks: 5 } }));

      expect(config.health).toEqual({ timeoutSeconds: 900, maxFailedTasks: 5 });
    });

    it('keeps every field of a full config', () => {
      const full = {
        ...minimal,
        repository: 'team/web-app',
        tagPattern: '^v\\d+\\.\\d+\\.\\d+$',
        health: { timeoutSeconds: 600, maxFailedTasks: 3 },
        rollbackAlarms: ['web-prod-5xx', 'web-prod-latency'],
      };

      expect(parseDeployConfig(name, JSON.stringify(full))).toEqual(full);
    });

    it('lists each bad field by its path', () => {
      // Prepare
      const bad = {
        repository: 'Web',
        tagPattern: '(unclosed',
        target: { type: 'ecs', cluster: '', service: 'web', container: 'app' },
        health: { timeoutSeconds: 5, maxFailedTasks: 2.5 },
        rollbackAlarms: [''],
      };

      // Act
      const error = thrownBy(() => parseDeployConfig(name, JSON.stringify(bad)));

      // Assess
      expect(error).toBeInstanceOf(ConfigInvalid);
      const issues = (error as ConfigInvalid).issues;
      const paths = issues.map((issue) => issue.split(':')[0]);
      expect(paths).toEqual(
        expect.arrayContaining([
          'repository',
          'tagPattern',
          'target.cluster',
          'health.timeoutSeconds',
          'health.maxFailedTasks',
          'rollbackAlarms.0',
        ]),
      );
      expect(issues).toHaveLength(6);
    });

    it('names every bad field in the message too', () => {
      const bad = { ...minimal, target: { ...minimal.target, cluster: '' }, health: { timeoutSeconds: 5 } };

      expect(() => parseDeployConfig(name, JSON.stringify(bad))).toThrow(
        /\/gantry\/web\/prod\/config is invalid: .*target\.cluster: .*health\.timeoutSeconds: /,
      );
    });

    it('rejects unknown keys such as a typo, at the root and nested', () => {
      const typo = { ...minimal, tagPatern: '^v', target: { ...minimal.target, clutser: 'prod' } };

      expect(() => parseDeployConfig(name, JSON.stringify(typo))).toThrow(
        expect.objectContaining({
          name: 'ConfigInvalid',
          issues: expect.arrayContaining([
            '(root): unknown key(s) tagPatern',
            'target: unknown key(s) clutser',
          ]),
        }),
      );
    });

    it('rejects a target of a type Gantry does not know', () => {
      const nomad = { ...minimal, target: { ...minimal.target, type: 'nomad' } };

      expect(() => parseDeployConfig(name, JSON.stringify(nomad))).toThrow(
        expect.objectContaining({ issues: [expect.stringMatching(/^target\.type: /)] }),
      );
    });

    it("checks a swarm target against the swarm's own schema, naming each missing field", () => {
      const swarm = { ...minimal, target: { ...minimal.target, type: 'swarm' } };

      expect(() => parseDeployConfig(name, JSON.stringify(swarm))).toThrow(
        expect.objectContaining({
          name: 'ConfigInvalid',
          issues: expect.arrayContaining([
            expect.stringMatching(/^target\.queueName: /),
            'target: unknown key(s) cluster, service, container',
          ]),
        }),
      );
    });

    it('rejects text that is not JSON', () => {
      expect(() => parseDeployConfig(name, '{ repository: web')).toThrow(
        expect.objectContaining({ name: 'ConfigInvalid', issues: ['(root): not JSON'] }),
      );
    });

    it('rejects JSON that is not an object', () => {
      expect(() => parseDeployConfig(name, '"web"')).toThrow(
        expect.objectContaining({ name: 'ConfigInvalid' }),
      );
    });
  });

  describe('loadDeployConfig', () => {
    let ssm: ReturnType<typeof fakeParameterStore>;
    beforeEach(() => {
      ssm = fakeParameterStore();
    });
    afterEach(() => {
      ssm.mock.reset();
    });

    it('reads and validates the config parameter', async () => {
      ssm.put(name, minimal);

      await expect(loadDeployConfig(ssm.client, name)).resolves.toEqual(deployConfigSchema.parse(minimal));
      expect(ssm.mock).toHaveReceivedCommandWith(GetParameterCommand, { Name: name });
    });

    it('throws ConfigNotFound when the parameter is missing', async () => {
      await expect(loadDeployConfig(ssm.client, name)).rejects.toMatchObject({
        name: 'ConfigNotFound',
        message: `no config parameter ${name}`,
      });
    });

    it('throws ConfigInvalid for a stored config that fails the schema', async () => {
      ssm.put(name, { ...minimal, health: { timeoutSeconds: 10 } });

      await expect(loadDeployConfig(ssm.client, name)).rejects.toMatchObject({
        name: 'ConfigInvalid',
        issues: [expect.stringMatching(/^health\.timeoutSeconds: /)],
      });
    });
  });
});
