// Part of `npm run bench:edge`: (1) how much of a size mix is served inline before and after quality
// fitting, and what fitting adds to a miss; (2) AVIF against WebP, encode time and bytes, by effort.
// Sources are synthetic (bench/synthetic.ts: gradient, edges, grain), never real photos.
import { cpus, loadavg } from 'node:os';
import sharp from 'sharp';
import { originResponseEvent, s3ErrorResponse, viewerRequest } from '../local/cloudfront-events.ts';
import { invokeAtEdge } from '../local/conformance.ts';
import { localConfig } from '../local/dev-config.ts';
import type { EdgeConfig } from '../src/config.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { avifEffortFor } from '../src/resize.ts';
import type { ImageStore } from '../src/storage.ts';
import { type DerivedRequest, derivedUri, type OutputFormat } from '../src/url.ts';
import { syntheticPhoto } from './synthetic.ts';

interface Source {
  readonly label: string;
  readonly bytes: Buffer;
}

/** 4:3 sources of about `megapixels`, one per texture. */
async function sources(megapixels: readonly number[], sigmas: readonly number[]): Promise<Source[]> {
  const out: Source[] = [];
  for (const mp of megapixels) {
    const width = Math.round(Math.sqrt((mp * 1e6 * 4) / 3));
    const height = Math.round((width * 3) / 4);
    for (const sigma of sigmas) {
      out.push({ label: `${mp} MP σ${sigma}`, bytes: await syntheticPhoto(width, height, sigma) });
    }
  }
  return out;
}

function originHandler(config: EdgeConfig, source: Buffer) {
  const store: ImageStore = { getOriginal: async () => source, putDerived: async () => {} };
  return createOriginResponseHandler({
    config,
    store,
    limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 1 }),
    log: () => {},
  });
}

/** One miss through origin-response and CloudFront's validation: its status and time. */
async function miss(
  handler: ReturnType<typeof createOriginResponseHandler>,
  uri: string,
): Promise<{ status: string; ms: number }> {
  const start = process.hrtime.bigint();
  const result = await invokeAtEdge(
    handler,
    originResponseEvent({ ...viewerRequest(uri), headers: {} }, s3ErrorResponse('403')),
  );
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result?.status !== '200' && result?.status !== '302') {
    throw new Error(`origin-response answered ${result?.status} for ${uri}`);
  }
  return { status: result.status, ms };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function sizeMix(full: boolean): Promise<void> {
  const config = localConfig();
  // Today's behaviour: the same code with fitting off (no re-encode, every result over the cap → 302).
  const before: EdgeConfig = { ...config, fitToResponse: { ...config.fitToResponse, maxReencodes: 0 } };
  const mix = await sources(full ? [2, 6, 12, 24] : [2, 24], full ? [12, 40, 60] : [40]);
  const formats: OutputFormat[] = ['jpeg', 'webp', 'avif'];
  const qualities = [config.defaultQuality, 90];
  let total = 0;
  let inlineBefore = 0;
  let inlineAfter = 0;
  const addedMs: number[] = [];
  const missMsAfter: number[] = [];
  const byFormat = new Map<string, { total: number; before: number; after: number; addedMs: number[] }>();
  for (const source of mix) {
    const handlerBefore = originHandler(before, source.bytes);
    const handlerAfter = originHandler(config, source.bytes);
    for (const format of formats) {
      for (const quality of qualities) {
        for (const width of config.widths) {
          const request: DerivedRequest = { width, height: 0, fit: 'inside', quality, format, path: 'p.jpg' };
          const uri = `${derivedUri(request, config)}`;
          const old = await miss(handlerBefore, uri);
          // With fitting on, a result that fits at once takes the very same path (one encode), so
          // only the results over the cap are run again.
          const now = old.status === '200' ? old : await miss(handlerAfter, uri);
          total += 1;
          const row = byFormat.get(format) ?? { total: 0, before: 0, after: 0, addedMs: [] };
          row.total += 1;
          if (old.status === '200') {
            inlineBefore += 1;
            row.before += 1;
          }
          if (now.status === '200') {
            inlineAfter += 1;
            row.after += 1;
          }
          if (old.status !== '200') {
            row.addedMs.push(now.ms - old.ms);
            addedMs.push(now.ms - old.ms);
            missMsAfter.push(now.ms);
          }
          byFormat.set(format, row);
        }
      }
    }
  }
  const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)}%`;
  console.log('');
  console.log(
    `Quality fitting — synthetic sources (${mix.map((s) => s.label).join(', ')}), every allowed width, ` +
      `q${qualities.join('/q')}, ${total} misses through origin-response`,
  );
  console.log(
    `${'served inline (200)'.padEnd(44)} ${'before'.padStart(8)} ${'after'.padStart(8)}   added per miss over the cap (median)`,
  );
  console.log(
    `${'  all formats'.padEnd(44)} ${pct(inlineBefore, total).padStart(8)} ${pct(inlineAfter, total).padStart(8)}`,
  );
  for (const [format, row] of byFormat) {
    const added =
      row.addedMs.length === 0 ? '—' : `${median(row.addedMs).toFixed(0)} ms (${row.addedMs.length})`;
    console.log(
      `${`  ${format}`.padEnd(44)} ${pct(row.before, row.total).padStart(8)} ${pct(row.after, row.total).padStart(8)}   ${added}`,
    );
  }
  if (addedMs.length > 0) {
    console.log(
      `${'added per miss over the cap (median, max)'.padEnd(44)} ${`${median(addedMs).toFixed(0)} ms`.padStart(8)} ${`${Math.max(...addedMs).toFixed(0)} ms`.padStart(8)}   ` +
        `(${addedMs.length} misses; their median miss is now ${median(missMsAfter).toFixed(0)} ms, and a 302 ` +
        'costs the viewer one more round trip and a second request)',
    );
  }
}

async function avifVersusWebp(full: boolean): Promise<void> {
  const config = localConfig();
  const mix = await sources(full ? [2, 24] : [24], full ? [12, 40, 60] : [12, 60]);
  // Below 640 px every encode takes tens of milliseconds: nothing to bound there.
  const widths = full ? config.widths.filter((w) => w >= 640) : [640, 1280, 1920];
  const runs = full ? 5 : 3;
  console.log('');
  console.log(
    `AVIF vs WebP at q${config.defaultQuality}, encode only (resized pixels in memory), median of ${runs}; ` +
      `the config's AVIF effort is ${config.avif.effort} up to ${config.avif.maxFullEffortPixels} px, ` +
      `${config.avif.reducedEffort} above. Synthetic sources.`,
  );
  console.log(
    `${'source → width'.padEnd(22)} ${'AVIF e0'.padStart(15)} ${'AVIF e1'.padStart(15)} ${'AVIF e2'.padStart(15)} ${'WebP e4'.padStart(15)}   used`,
  );
  for (const source of mix) {
    for (const width of widths) {
      const pixels = await sharp(source.bytes).resize({ width }).raw().toBuffer({ resolveWithObject: true });
      const time = async (encode: () => Promise<Buffer>) => {
        const times: number[] = [];
        let bytes = 0;
        for (let i = 0; i < runs; i++) {
          const start = process.hrtime.bigint();
          bytes = (await encode()).byteLength;
          times.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
        return `${median(times).toFixed(0)}ms ${(bytes / 1024).toFixed(0)}K`;
      };
      const image = () => sharp(pixels.data, { raw: pixels.info });
      const cells = [
        await time(() => image().avif({ quality: config.defaultQuality, effort: 0 }).toBuffer()),
        await time(() => image().avif({ quality: config.defaultQuality, effort: 1 }).toBuffer()),
        await time(() => image().avif({ quality: config.defaultQuality, effort: 2 }).toBuffer()),
        await time(() => image().webp({ quality: config.defaultQuality, effort: 4 }).toBuffer()),
      ];
      const used = avifEffortFor(pixels.info.width * pixels.info.height, config.avif);
      console.log(
        `${`${source.label} → ${pixels.info.width}×${pixels.info.height}`.padEnd(22)} ${cells.map((c) => c.padStart(15)).join(' ')}   e${used}`,
      );
    }
  }
  await redirectOrLowerEffort(config, mix, runs);
}

/**
 * The choice for AVIF over the effort budget, measured as the first viewer meets it: one AVIF miss
 * at the reduced effort, against the other way (a redirect to the WebP URL, then a WebP miss).
 */
async function redirectOrLowerEffort(
  config: EdgeConfig,
  mix: readonly Source[],
  runs: number,
): Promise<void> {
  const width = Math.max(...config.widths);
  console.log('');
  console.log(
    `AVIF over the effort budget (${width} px), first viewer, through origin-response, median of ${runs}:`,
  );
  for (const source of mix) {
    const handler = originHandler(config, source.bytes);
    const time = async (format: OutputFormat) => {
      const times: number[] = [];
      const request: DerivedRequest = { width, height: 0, fit: 'inside', quality: 80, format, path: 'p.jpg' };
      for (let i = 0; i < runs; i++) times.push((await miss(handler, derivedUri(request, config))).ms);
      return median(times);
    };
    const avif = await time('avif');
    const webp = await time('webp');
    console.log(
      `  ${source.label.padEnd(12)} AVIF miss at effort ${config.avif.reducedEffort}: ${avif.toFixed(0)} ms   ` +
        `redirect to WebP: ${webp.toFixed(0)} ms WebP miss + a round trip + an invocation for the 302`,
    );
  }
  console.log(
    'Chosen: lower the effort. The redirect must not be cached (an AVIF key holds only AVIF), so every later',
  );
  console.log('view of that URL would pay the 302 again; the lowered effort is paid once per variant.');
}

/**
 * `full` (`npm run bench:edge -- --full`): 2/6/12/24 MP × three textures for the mix, every width
 * from 640 px for AVIF (many minutes); otherwise a quick subset (2 and 24 MP, one texture).
 */
export async function fitAndAvifBench(full: boolean): Promise<void> {
  // Encode times move with whatever else the machine runs: say how loaded it was.
  console.log(
    `\nload average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(', ')} (${cpus().length} cores)`,
  );
  await sizeMix(full);
  await avifVersusWebp(full);
}
