// Child process of the benchmark: resizes one big original through the origin-response handler and
// reports its peak RSS. A process of its own, so the parent's fixtures and caches do not count.
import { readFile } from 'node:fs/promises';
import { parseEdgeConfig } from '../src/config.ts';
import { bakedConfig } from '../src/edge-config.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import type { ImageStore } from '../src/storage.ts';

const [sourcePath = ''] = process.argv.slice(2);
const config = parseEdgeConfig(bakedConfig);
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
  const result = await handler({
    Records: [
      {
        cf: {
          config: {
            distributionDomainName: 'bench.cloudfront.test',
            distributionId: 'EBENCH',
            eventType: 'origin-response',
            requestId: format,
          },
          request: {
            clientIp: '127.0.0.1',
            method: 'GET',
            uri: `/derived/800x0/inside/q80/${format}/big.jpg`,
            querystring: '',
            headers: {},
          },
          response: { status: '403', statusDescription: 'Forbidden', headers: {} },
        },
      },
    ],
  });
  statuses.push(result?.status ?? 'none');
}
process.stdout.write(JSON.stringify({ baselineKb, peakKb: process.resourceUsage().maxRSS, statuses }));
