#!/usr/bin/env node
// The `gantry` bin. The CLI is TypeScript sharing the Lambdas' modules; tsx (already how every npm
// script runs TypeScript here) compiles it on the fly, so there is no build step to forget and the
// bin works from a clean clone right after `npm install`. Node's own type stripping is not used:
// it refuses files under node_modules, which is where this package lives when installed elsewhere.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `gantry: needs Node 22 or newer (this is ${process.version}); run it with npx gantry\n`,
  );
  process.exit(2);
}
const { register } = await import('tsx/esm/api');
register();
const { run } = await import('./main.ts');
process.exitCode = await run(process.argv.slice(2));
