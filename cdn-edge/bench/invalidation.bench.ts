// Part of `npm run bench:edge` (imported by resize.bench.ts, or run alone with tsx): what the
// invalidation function does for one original with 100 stored variants, and what the resize
// budget adds to a miss. Against s3rver on loopback, not S3: the figures count calls and show the
// code's own cost; S3's latency per call comes on top on AWS. s3rver lists everything and the
// local lister keeps the first MaxKeys (local/s3rver-lister.ts).
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { type LocalCdn, startLocalCdn } from '../local/cdn.ts';
import { S3rverVariantLister } from '../local/s3rver-lister.ts';
import { variantName, variantsPrefix } from '../src/url.ts';

const RUNS = 5;
const VARIANTS = 100;
const PATH = 'products/shoe.jpg';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Writes VARIANTS distinct variants of PATH, as misses would have (the bytes do not matter here). */
async function storeVariants(cdn: LocalCdn): Promise<void> {
  const { config } = cdn;
  const names = config.widths
    .flatMap((width) => config.qualities.map((quality) => ({ width, quality })))
    .flatMap(({ width, quality }) =>
      (['webp', 'avif'] as const).map((format) =>
        variantName({ width, height: 0, fit: 'inside', quality, format }),
      ),
    )
    .slice(0, VARIANTS);
  if (names.length < VARIANTS) throw new Error(`the config allows only ${names.length} such variants`);
  // One at a time: s3rver's file store fails on many concurrent writes into one new folder.
  for (const name of names) {
    await cdn.s3.send(
      new PutObjectCommand({
        Bucket: config.derived.bucket,
        Key: `${variantsPrefix(PATH, config)}${name}`,
        Body: Buffer.alloc(64),
      }),
    );
  }
}

async function main(): Promise<void> {
  const cdn = await startLocalCdn({ seed: { 'catalog/shoe.jpg': Buffer.alloc(16) } });
  try {
    // S3 calls per run, counted as the client sends them.
    const calls = new Map<string, number>();
    let counting = false;
    cdn.s3.middlewareStack.add(
      (next, context) => (args) => {
        const name = context.commandName ?? 'unknown';
        if (counting) calls.set(name, (calls.get(name) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize' },
    );
    const times: number[] = [];
    const deleted: number[] = [];
    let invalidationPaths: readonly string[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      await storeVariants(cdn);
      await cdn.s3.send(
        new PutObjectCommand({
          Bucket: cdn.config.routes[0]?.bucket ?? cdn.config.derived.bucket,
          Key: 'originals/catalog/shoe.jpg',
          Body: Buffer.alloc(16, run),
        }),
      );
      counting = true;
      const started = performance.now();
      const outcome = await cdn.processOriginalChanges();
      times.push(performance.now() - started);
      counting = false;
      deleted.push(outcome.deleted);
      invalidationPaths = outcome.paths;
    }
    const left = await cdn.s3.send(
      new ListObjectsV2Command({
        Bucket: cdn.config.derived.bucket,
        Prefix: variantsPrefix(PATH, cdn.config),
      }),
    );

    await storeVariants(cdn);
    const lister = new S3rverVariantLister(cdn.s3);
    const budgetTimes: number[] = [];
    for (let run = 0; run < 20; run += 1) {
      const started = performance.now();
      await lister.listVariants(
        cdn.config.derived.bucket,
        variantsPrefix(PATH, cdn.config),
        cdn.config.budget.maxVariantsPerOriginal,
      );
      budgetTimes.push(performance.now() - started);
    }

    console.log('\nInvalidation (s3rver on loopback; synthetic variants, 64 B each)');
    console.log(
      `  original with ${VARIANTS} variants: deleted ${deleted.join(', ')} objects per run, ${left.KeyCount ?? 0} left; ` +
        `S3 calls per run: ${[...calls].map(([name, n]) => `${n / RUNS} ${name.replace('Command', '')}`).join(', ')}; ` +
        `1 invalidation (${invalidationPaths.join(' ')})`,
    );
    console.log(`  time per original (median of ${RUNS}): ${median(times).toFixed(1)} ms`);
    console.log(
      `  resize budget check, one ListObjectsV2 (MaxKeys ${cdn.config.budget.maxVariantsPerOriginal}) per miss: ` +
        `${median(budgetTimes).toFixed(1)} ms median of 20`,
    );
  } finally {
    await cdn.close();
  }
}

await main();
