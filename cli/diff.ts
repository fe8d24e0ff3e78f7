/**
 * A line diff of two texts (longest common subsequence), `-` for removed, `+` for added, two
 * spaces for kept lines; `context` kept lines around each change, `…` for the ones left out.
 * Config and task definitions are a few hundred lines: the quadratic table is small.
 */
export function lineDiff(before: string, after: string, context = 3): string[] {
  const a = before === '' ? [] : before.split('\n');
  const b = after === '' ? [] : after.split('\n');
  const common: number[][] = Array.from({ length: a.length + 1 }, () =>
    new Array<number>(b.length + 1).fill(0),
  );
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = common[i] as number[];
      row[j] =
        a[i] === b[j]
          ? (common[i + 1]?.[j + 1] ?? 0) + 1
          : Math.max(common[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const lines: { mark: ' ' | '-' | '+'; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ mark: ' ', text: a[i++] as string });
      j++;
    } else if (i < a.length && (j >= b.length || (common[i + 1]?.[j] ?? 0) >= (common[i]?.[j + 1] ?? 0))) {
      // Removed lines first, as diff(1) shows a change.
      lines.push({ mark: '-', text: a[i++] as string });
    } else {
      lines.push({ mark: '+', text: b[j++] as string });
    }
  }
  const changed = lines.map((line) => line.mark !== ' ');
  const near = (index: number) =>
    changed.slice(Math.max(0, index - context), index + context + 1).some(Boolean);
  const shown: string[] = [];
  lines.forEach((line, index) => {
    if (near(index)) shown.push(`${line.mark} ${line.text}`);
    else if (shown.at(-1) !== '  …') shown.push('  …');
  });
  return changed.some(Boolean) ? shown : [];
}
