// Called by serverless.yml (`${file(./config/stack.cjs):…}`) while osls resolves variables: it
// validates edge.config.json with the same zod schema the handlers use, so `osls package` refuses an
// invalid config, and derives the values the stack needs (bucket names, least-privilege ARNs).
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

module.exports = async () => {
  // Node 22 strips the types of src/config.ts itself; the file uses only erasable syntax.
  const { parseEdgeConfigFile } = await import('../src/config.ts');
  const config = parseEdgeConfigFile(JSON.parse(readFileSync(join(__dirname, 'edge.config.json'), 'utf8')));
  const objectArn = (bucket, prefix) => `arn:aws:s3:::${bucket}/${prefix}*`;
  return {
    derivedBucket: config.derived.bucket,
    derivedPrefix: config.derived.prefix,
    // The cache behavior of derived URLs (CloudFront path patterns have no leading slash).
    derivedPathPattern: `${config.derived.prefix}*`,
    derivedObjectsArn: objectArn(config.derived.bucket, config.derived.prefix),
    originalObjectArns: [...new Set(config.routes.map((r) => objectArn(r.bucket, r.keyPrefix)))],
  };
};
