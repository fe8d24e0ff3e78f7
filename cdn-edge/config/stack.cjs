// Called by serverless.yml (`${file(./config/stack.cjs):…}`) while osls resolves variables: it
// validates edge.config.json with the same zod schema the handlers use, so `osls package` refuses an
// invalid config, and derives the values the stack needs (bucket names, least-privilege ARNs).
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

/**
 * The fewest key prefixes covering every route's: S3 refuses a notification configuration whose
 * filters overlap for one event type ("Configuring event notifications using object key name
 * filtering", Amazon S3 User Guide: overlapping prefixes are ambiguous), and `originals/` already
 * covers `originals/catalog/`.
 */
function notificationPrefixes(prefixes) {
  const unique = [...new Set(prefixes)];
  return unique.filter((p) => !unique.some((other) => other !== p && p.startsWith(other))).sort();
}

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
    derivedBucketArn: `arn:aws:s3:::${config.derived.bucket}`,
    // ListBucket's s3:prefix condition: listings under the derived prefix only.
    derivedListPrefix: `${config.derived.prefix}*`,
    // The media bucket's notifications of changed originals, to the queue the invalidation function
    // reads (invalidation.yml). Only routes reading the media bucket: other buckets are configured
    // where they are defined (README, "Invalidation").
    mediaBucketQueueConfigurations: notificationPrefixes(
      config.routes.filter((r) => r.bucket === config.derived.bucket).map((r) => r.keyPrefix),
    ).flatMap((prefix) =>
      ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'].map((event) => ({
        Event: event,
        Queue: { 'Fn::GetAtt': ['OriginalChangesQueue', 'Arn'] },
        ...(prefix === '' ? {} : { Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: prefix }] } } }),
      })),
    ),
    derivedRegion: config.derived.region,
    originalObjectArns: [...new Set(config.routes.map((r) => objectArn(r.bucket, r.keyPrefix)))],
  };
};
