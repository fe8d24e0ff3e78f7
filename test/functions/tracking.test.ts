import { describe, expect, it } from 'vitest';
import { listAppEnvConfigs } from '../../functions/src/tracking.ts';
import { webConfig } from '../support/aws-fixtures.ts';

/*
 * The full scan of the configs: what routing falls back to for a key an index has never seen.
 */

describe('listAppEnvConfigs', () => {
  it('lists each valid config and reports each invalid one with its issues, skipping other parameters', async () => {
    // Prepare: names relative to the prefix, as the config source answers them.
    const asked: string[] = [];
    const source = async (prefix: string) => {
      asked.push(prefix);
      return {
        'web/prod/config': JSON.stringify(webConfig),
        'web/prod/release': JSON.stringify({ kind: 'release' }),
        'web/qa/config': JSON.stringify({ ...webConfig, tagPatern: '^v' }),
        'team/web/prod/config': JSON.stringify(webConfig),
      };
    };

    // Act
    const listed = await listAppEnvConfigs(source, '/gantry');

    // Assess
    expect(asked).toEqual(['/gantry']);
    expect(listed).toEqual({
      configs: [
        { app: 'web', env: 'prod', config: expect.objectContaining({ repository: webConfig.repository }) },
      ],
      invalid: [{ app: 'web', env: 'qa', issues: [expect.stringMatching(/tagPatern/)] }],
    });
  });

  it('lists nothing when no config exists', async () => {
    await expect(listAppEnvConfigs(async () => ({}), '/gantry')).resolves.toEqual({
      configs: [],
      invalid: [],
    });
  });
});
