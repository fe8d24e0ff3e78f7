import { describe, expect, it } from 'vitest';
import { lineDiff } from '../../cli/diff.ts';

describe('lineDiff', () => {
  it('shows a changed line as removed then added, with the lines around it', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].join('\n');
    const after = ['a', 'b', 'c', 'd', 'E', 'f', 'g', 'h', 'i'].join('\n');

    expect(lineDiff(before, after, 1)).toEqual(['  …', '  d', '- e', '+ E', '  f', '  …']);
  });

  it('is empty when nothing changed', () => {
    expect(lineDiff('a\nb', 'a\nb')).toEqual([]);
  });

  it('shows everything as added when there was nothing before', () => {
    expect(lineDiff('', 'a\nb')).toEqual(['+ a', '+ b']);
  });
});
