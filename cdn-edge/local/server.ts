import { startLocalCdn } from './cdn.ts';

// `npm run edge`: a simulated CloudFront + S3 on loopback. EDGE_PORT picks the port (default: any free one).
const cdn = await startLocalCdn({ port: Number(process.env.EDGE_PORT ?? 0) });
console.log(`Gantry local CDN (simulated) listening on ${cdn.url}`);
// Signatures are required (the shipped config): the page signs its images with the dev secret.
console.log(`  try ${cdn.url}/ or ${cdn.url}${cdn.signedPath('/400x/sample.jpg')}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cdn.close().then(() => process.exit(0));
  });
}
