// `npm run bench:edge`: the resizer against raw sharp and nginx image_filter, in one run.
// 4000×3000 JPEG → 800 px wide JPEG at q80; peak RSS on a 24 MP source; viewer-request cost;
// quality fitting and AVIF vs WebP (fit-avif.bench.ts; `npm run bench:edge -- --full` for all sizes).
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { bundleSize, HANDLERS } from '../build/bundle.ts';
import {
  originResponseEvent,
  s3ErrorResponse,
  viewerRequest,
  viewerRequestEvent,
} from '../local/cloudfront-events.ts';
import { invokeAtEdge } from '../local/conformance.ts';
import { localConfig } from '../local/dev-config.ts';
import { createOriginResponseHandler } from '../src/handlers/origin-response.ts';
import { createViewerRequestHandler } from '../src/handlers/viewer-request.ts';
import { ResizeLimiter } from '../src/limiter.ts';
import { signUrl } from '../src/signature.ts';
import type { ImageStore } from '../src/storage.ts';
import { fitAndAvifBench } from './fit-avif.bench.ts';

const ITERATIONS = 20;
const WARMUP = 2;
const NGINX = '/usr/sbin/nginx';
const IMAGE_FILTER_MODULE = '/usr/lib/nginx/modules/ngx_http_image_filter_module.so';
// The shipped config with the local dev secret: signatures are required and checked, as deployed.
const config = localConfig();

/** A photo-like source: blurred noise compresses and decodes like a real picture, unlike flat colour. */
async function photo(width: number, height: number): Promise<Buffer> {
  const raw = await sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 60 },
    },
  })
    .blur(1.5)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(raw.data, { raw: raw.info }).jpeg({ quality: 90 }).toBuffer();
}

async function timeIt(run: () => Promise<unknown>): Promise<{ medianMs: number; meanMs: number }> {
  for (let i = 0; i < WARMUP; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const start = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summary(times);
}

async function timePaired(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<[{ medianMs: number; meanMs: number }, { medianMs: number; meanMs: number }]> {
  const timesA: number[] = [];
  const timesB: number[] = [];
  for (let i = 0; i < WARMUP; i++) {
    await a();
    await b();
  }
  const once = async (run: () => Promise<unknown>, into: number[]) => {
    const start = process.hrtime.bigint();
    await run();
    into.push(Number(process.hrtime.bigint() - start) / 1e6);
  };
  for (let i = 0; i < ITERATIONS; i++) {
    // Alternate which goes first, so neither always runs on a warmer cache.
    if (i % 2 === 0) {
      await once(a, timesA);
      await once(b, timesB);
    } else {
      await once(b, timesB);
      await once(a, timesA);
    }
  }
  return [summary(timesA), summary(timesB)];
}

function summary(times: number[]): { medianMs: number; meanMs: number } {
  const sorted = [...times].sort((x, y) => x - y);
  return {
    medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    meanMs: sorted.reduce((x, y) => x + y, 0) / sorted.length,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts nginx with image_filter on a loopback port; undefined (with the reason) when it cannot. */
async function startNginx(dir: string, source: Buffer): Promise<{ url: string; stop: () => void } | string> {
  if (!existsSync(NGINX)) return `nginx not found at ${NGINX} (apt-get install nginx)`;
  if (!existsSync(IMAGE_FILTER_MODULE)) {
    return `image_filter module not found (apt-get install libnginx-mod-http-image-filter)`;
  }
  await writeFile(join(dir, 'source.jpg'), source);
  const port = await freePort();
  const runAsRoot = process.getuid?.() === 0 ? 'user root;' : '';
  await writeFile(
    join(dir, 'nginx.conf'),
    `load_module ${IMAGE_FILTER_MODULE};
${runAsRoot}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location /resize/ {
      alias ${dir}/;
      image_filter resize 800 -;
      image_filter_jpeg_quality 80;
      image_filter_buffer 64M;
    }
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/resize/source.jpg`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, stop: () => child.kill('SIGQUIT') };
    // Polling a process we just spawned: there is no event that says "listening".
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  return `nginx did not answer on ${url} (see ${dir}/error.log)`;
}

function line(label: string, value: string, goal = ''): void {
  console.log(`${label.padEnd(44)} ${value.padStart(14)}   ${goal}`);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-edge-bench-'));
  try {
    console.log('Generating sources (4000×3000 and 6000×4000 JPEG)…');
    const source = await photo(4000, 3000);
    const big = await photo(6000, 4000);
    const bigPath = join(dir, 'big-24mp.jpg');
    await writeFile(bigPath, big);

    // 1. Raw sharp: the same work with nothing around it.
    const rawRun = () => sharp(source).resize({ width: 800 }).jpeg({ quality: 80 }).toBuffer();

    // 2. Through the handlers: viewer-request, then origin-response on a miss (S3 replaced by memory).
    const store: ImageStore = { getOriginal: async () => source, putDerived: async () => {} };
    const viewer = createViewerRequestHandler(config);
    const origin = createOriginResponseHandler({
      config,
      store,
      limiter: new ResizeLimiter({ maxConcurrent: 4, maxQueued: 0, retryAfterSeconds: 1 }),
      log: () => {},
    });
    // Each run goes through CloudFront's validation (local/conformance.ts), as at the edge: a result
    // CloudFront would refuse with a 502 stops the bench instead of being timed.
    const handlersRun = async () => {
      const rewritten = await invokeAtEdge(
        viewer,
        viewerRequestEvent(
          viewerRequest('/800x/photo.jpg', signedQuery('/800x/photo.jpg?q=80'), { Accept: 'image/jpeg' }),
        ),
      );
      if (!rewritten || !('uri' in rewritten)) throw new Error('viewer-request did not forward');
      const result = await invokeAtEdge(origin, originResponseEvent(rewritten, s3ErrorResponse('403')));
      if (result?.status !== '200') throw new Error(`origin-response answered ${result?.status}`);
    };
    // Interleaved, so drift on a shared machine (other processes, thermal) hits both alike.
    const [raw, viaHandlers] = await timePaired(rawRun, handlersRun);

    // 3. nginx image_filter (libgd), over loopback HTTP.
    const nginx = await startNginx(dir, source);
    let nginxTime: { medianMs: number; meanMs: number } | undefined;
    if (typeof nginx === 'string') {
      console.log(`nginx image_filter: skipped: ${nginx}`);
    } else {
      try {
        nginxTime = await timeIt(async () => {
          const response = await fetch(nginx.url);
          if (!response.ok) throw new Error(`nginx answered ${response.status}`);
          await response.arrayBuffer();
        });
      } finally {
        nginx.stop();
      }
    }

    // 4. viewer-request cost per request.
    const uris = ['/800x/a/b.jpg', '/thumb/products/shoe.png', '/400x300/c%20d.webp', '/x600/e.jpg'];
    // The timed loop repeats these four requests; each one's result is validated once here, outside
    // the timing (cloning and checking would cost more than the function itself).
    for (const uri of uris) await invokeAtEdge(viewer, viewerEvent(uri));
    const n = 200_000;
    for (let i = 0; i < 10_000; i++) await viewer(viewerEvent(uris[i % uris.length] ?? '/'));
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await viewer(viewerEvent(uris[i % uris.length] ?? '/'));
    const viewerMs = Number(process.hrtime.bigint() - start) / 1e6 / n;
    const viewerBytes = await bundleSize(HANDLERS.viewerRequest);

    // 5. Peak RSS on a 24 MP source, in a child process.
    const child = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./rss-child.ts', import.meta.url)), bigPath],
      { maxBuffer: 1024 * 1024 },
    );
    const rss = JSON.parse(child.stdout) as { baselineKb: number; peakKb: number; statuses: string[] };

    const goal = (ok: boolean, text: string) => `${ok ? 'PASS' : 'MISS'} (goal ${text})`;
    console.log('');
    console.log(
      `4000×3000 JPEG (${(source.byteLength / 1e6).toFixed(1)} MB) → 800 px wide JPEG q80, median of ${ITERATIONS}`,
    );
    line('raw sharp', `${raw.medianMs.toFixed(1)} ms`);
    line('viewer-request + origin-response handlers', `${viaHandlers.medianMs.toFixed(1)} ms`);
    line(
      '  handlers speed vs raw sharp',
      `${(raw.medianMs / viaHandlers.medianMs).toFixed(2)}×`,
      goal(raw.medianMs / viaHandlers.medianMs >= 0.9, '≥ 0.90×'),
    );
    if (nginxTime) {
      line('nginx image_filter (loopback HTTP)', `${nginxTime.medianMs.toFixed(1)} ms`);
      line(
        '  handlers speed vs nginx image_filter',
        `${(nginxTime.medianMs / viaHandlers.medianMs).toFixed(2)}×`,
        goal(nginxTime.medianMs / viaHandlers.medianMs >= 4, '≥ 4×'),
      );
    } else {
      line('nginx image_filter', 'not run');
    }
    line(
      'viewer-request per request',
      `${(viewerMs * 1000).toFixed(2)} µs`,
      goal(viewerMs < 0.1, '< 100 µs'),
    );
    line(
      'viewer-request bundle (esbuild, minified)',
      `${(viewerBytes / 1024).toFixed(1)} KB`,
      goal(viewerBytes <= 20 * 1024, '≤ 20 KB'),
    );
    line(
      `peak RSS, 6000×4000 source (${rss.statuses.join('/')})`,
      `${(rss.peakKb / 1024).toFixed(0)} MB`,
      `${goal(rss.peakKb / 1024 <= 256, '≤ 256 MB')}; idle process ${(rss.baselineKb / 1024).toFixed(0)} MB`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await fitAndAvifBench(process.argv.includes('--full'));
}

/** The query string of `pathAndQuery` once signed: signatures are required, so the bench signs too. */
function signedQuery(pathAndQuery: string): string {
  return signUrl(pathAndQuery, config).split('?')[1] ?? '';
}

function viewerEvent(uri: string) {
  return viewerRequestEvent(
    viewerRequest(uri, `${signedQuery(`${uri}?q=80`)}&utm_source=x`, { Accept: 'image/avif,image/webp,*/*' }),
    { requestId: 'bench' },
  );
}

await main();
// Invalidation and resize-budget figures (their own file).
await import('./invalidation.bench.ts');
