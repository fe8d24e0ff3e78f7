import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mutationModules } from '../mutation/modules.ts';

const root = new URL('..', import.meta.url).pathname;

describe('mutation testing modules (npm run mutation)', () => {
  it.each(Object.entries(mutationModules))('names files that exist for %s', (_name, module) => {
    const missing = [module.mutate, ...module.tests].filter((file) => !existsSync(join(root, file)));

    expect(missing).toEqual([]);
  });
});
