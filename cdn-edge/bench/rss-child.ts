// Child process of the benchmark: resizes one big original through the origin-response handler and
// reports its peak RSS. A process of its own, so the parent's fixtures and caches do not count.
import { readFile } from 'node:fs/promises';
import { originResponseEvent, s3ErrorResponse, viewerRequest } from '../local/cloudfront-events.ts';
import { invokeAtEdge } from '../local/conformance.ts';
import { localConfig } from '../local/dev-config.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import type { ImageStore } from '../src/storage.ts';

const [sourcePath = ''] = process.argv.slice(2);
// The shipped config with the local dev secret: signatures are required and checked, as deployed.
const config = localConfig();
const baselineKb = process.resourceUsage().maxRSS;
const store: ImageStore = {
  getOriginal: () => readFile(sourcePath),
  putDerived: async () => {},
};
const handler = createOriginResponseHandler({
  config,
  store,
  limiter: new ResizeLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 1 }),
  log: () => {},
});

const statuses: string[] = [];
for (const format of ['jpeg', 'webp', 'avif']) {
  // Validated as CloudFront would (local/conformance.ts): a refused result is not a measurement.
  const result = await invokeAtEdge(
    handler,
    originResponseEvent(
      { ...viewerRequest(`/derived/big.jpg/800x0-inside-q80-${format}`), headers: {} },
      s3ErrorResponse('403'),
    ),
  );
  statuses.push(result?.status ?? 'none');
}
process.stdout.write(JSON.stringify({ baselineKb, peakKb: process.resourceUsage().maxRSS, statuses }));
