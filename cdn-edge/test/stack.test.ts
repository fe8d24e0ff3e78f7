import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CloudFrontRequestEvent, CloudFrontResponseEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ObjectResponse, viewerRequest, viewerRequestEvent } from '../local/cloudfront-events.ts';
import { assertLambdaResultConforms } from '../local/conformance.ts';
import { parseEdgeConfig } from '../src/config.ts';
import { shippedConfigWith } from '../src/edge-config.ts';
import { signUrl } from '../src/signature.ts';

const run = promisify(execFile);
const serviceDir = fileURLToPath(new URL('..', import.meta.url));

interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
}

/** The environment of a build, without any signing secret this process may have. */
function buildEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('GANTRY_EDGE_SIGNING_SECRET' in extra)) delete env.GANTRY_EDGE_SIGNING_SECRET;
  if (!('GANTRY_EDGE_SIGNING_SECRET_FILE' in extra)) delete env.GANTRY_EDGE_SIGNING_SECRET_FILE;
  return env;
}

describe('cdn-edge stack (osls package + cfn-lint)', () => {
  let template: Template;
  let templatePath: string;
  // A fresh secret per run, given as a file the way the README says to: nothing committed has it.
  const secret = randomBytes(32).toString('hex');
  let secretDir: string;
  let buildOutput: string;
  // Both zips, unpacked once.
  let bundlesDir: string;

  beforeAll(async () => {
    secretDir = await mkdtemp(join(tmpdir(), 'gantry-edge-secret-'));
    const secretFile = join(secretDir, 'signing-secret');
    await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
    await rm(`${serviceDir}.serverless`, { recursive: true, force: true });
    // npx picks node_modules/.bin first, so osls runs on the repository's Node 22 offline.
    const { stdout, stderr } = await run('npx', ['osls', 'package', '--stage', 'dev'], {
      cwd: serviceDir,
      timeout: 170_000,
      env: buildEnv({ GANTRY_EDGE_SIGNING_SECRET_FILE: secretFile }),
    });
    buildOutput = stdout + stderr;
    templatePath = `${serviceDir}.serverless/cloudformation-template-update-stack.json`;
    template = JSON.parse(await readFile(templatePath, 'utf8')) as Template;
    bundlesDir = await mkdtemp(join(tmpdir(), 'gantry-edge-zip-'));
    for (const name of ['viewerRequest', 'originResponse']) {
      await run('python3', [
        '-m',
        'zipfile',
        '-e',
        `${serviceDir}.serverless/${name}.zip`,
        join(bundlesDir, name),
      ]);
    }
  }, 180_000);

  afterAll(async () => {
    await rm(secretDir, { recursive: true, force: true });
    await rm(bundlesDir, { recursive: true, force: true });
  });

  it('packages a template that cfn-lint reports no errors for', async () => {
    // cfn-lint exits with a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    const exitCode = await run('cfn-lint', [templatePath], { timeout: 60_000 }).then(
      () => 0,
      (error: { code?: number; stdout?: string }) => {
        if (typeof error.code !== 'number') throw error;
        return error.code;
      },
    );

    expect(exitCode & 2).toBe(0);
  }, 90_000);

  it('associates both functions with the distribution, on nodejs22.x', () => {
    const resources = Object.values(template.Resources);
    const functions = resources.filter((r) => r.Type === 'AWS::Lambda::Function');
    const distribution = resources.find((r) => r.Type === 'AWS::CloudFront::Distribution');
    const config = distribution?.Properties.DistributionConfig as {
      DefaultCacheBehavior: { LambdaFunctionAssociations: Array<{ EventType: string }> };
      Origins: Array<{ OriginAccessControlId?: unknown }>;
    };

    expect(functions.map((f) => f.Properties.Runtime)).toEqual(['nodejs22.x', 'nodejs22.x']);
    expect(config.DefaultCacheBehavior.LambdaFunctionAssociations.map((a) => a.EventType).sort()).toEqual([
      'origin-response',
      'viewer-request',
    ]);
    expect(config.Origins[0]?.OriginAccessControlId).toBeDefined();
  });

  it('adds Vary: Accept to public URLs only (their format is negotiated), not to derived/*', () => {
    type Behavior = {
      PathPattern?: string;
      ResponseHeadersPolicyId?: { Ref: string };
      LambdaFunctionAssociations: Array<{ EventType: string }>;
    };
    const config = template.Resources.CloudFrontDistribution?.Properties.DistributionConfig as {
      DefaultCacheBehavior: Behavior;
      CacheBehaviors: Behavior[];
    };
    const policyId = config.DefaultCacheBehavior.ResponseHeadersPolicyId?.Ref ?? '';
    const policy = template.Resources[policyId]?.Properties.ResponseHeadersPolicyConfig as {
      CustomHeadersConfig: { Items: unknown[] };
    };
    const derived = config.CacheBehaviors.find((b) => b.PathPattern === 'derived/*');

    expect(policy.CustomHeadersConfig.Items).toEqual([{ Header: 'Vary', Value: 'Accept', Override: true }]);
    expect(derived).toBeDefined();
    expect(derived?.ResponseHeadersPolicyId).toBeUndefined();
    for (const behavior of [config.DefaultCacheBehavior, derived]) {
      expect(behavior?.LambdaFunctionAssociations.map((a) => a.EventType).sort()).toEqual([
        'origin-response',
        'viewer-request',
      ]);
    }
  });

  it('grants the resizer GetObject on originals, PutObject on the derived prefix and ListBucket under it only', () => {
    const role = template.Resources.OriginResponseRole?.Properties as {
      Policies: Array<{
        PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> };
      }>;
    };
    const s3Statements = role.Policies.flatMap((p) => p.PolicyDocument.Statement).filter((s) =>
      String(s.Action).startsWith('s3:'),
    );

    expect(s3Statements).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: [
          'arn:aws:s3:::gantry-cdn-media-dev/originals/catalog/*',
          'arn:aws:s3:::gantry-cdn-media-dev/originals/*',
        ],
      },
      { Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::gantry-cdn-media-dev/derived/*' },
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::gantry-cdn-media-dev',
        Condition: { StringLike: { 's3:prefix': 'derived/*' } },
      },
    ]);
    const viewerRole = JSON.stringify(template.Resources.ViewerRequestRole);
    expect(viewerRole).not.toContain('s3:');
  });

  it("notifies the changes of originals, under the routes' prefixes, to a queue only S3 and this bucket may send to", () => {
    const bucket = template.Resources.MediaBucket as unknown as {
      DependsOn: string[];
      Properties: { NotificationConfiguration: { QueueConfigurations: unknown[] } };
    };
    const policy = template.Resources.OriginalChangesQueuePolicy?.Properties.PolicyDocument as {
      Statement: unknown[];
    };
    const queue = { 'Fn::GetAtt': ['OriginalChangesQueue', 'Arn'] };
    // originals/ covers originals/catalog/: S3 refuses overlapping filters for one event type.
    const filter = { S3Key: { Rules: [{ Name: 'prefix', Value: 'originals/' }] } };

    expect(bucket.Properties.NotificationConfiguration.QueueConfigurations).toEqual([
      { Event: 's3:ObjectCreated:*', Queue: queue, Filter: filter },
      { Event: 's3:ObjectRemoved:*', Queue: queue, Filter: filter },
    ]);
    expect(bucket.DependsOn).toEqual(['OriginalChangesQueuePolicy']);
    expect(policy.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 's3.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queue,
        Condition: {
          ArnLike: { 'aws:SourceArn': 'arn:aws:s3:::gantry-cdn-media-dev' },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      },
    ]);
  });

  it('ships bundles that load on their own: CommonJS, config inlined, sharp for linux-x64 beside them', async () => {
    // Events built here, results checked here against CloudFront's rules; the probe only runs
    // the zipped bundles on them (each handler gets its own copy, as over the wire).
    // Signed with the secret given to the build: the bundle checks it (the shipped config requires it).
    const signed = signUrl('/thumb/a.jpg', {
      ...parseEdgeConfig(shippedConfigWith(secret)),
      signing: { required: true, secret },
    });
    const viewerEvent = viewerRequestEvent(viewerRequest('/thumb/a.jpg', signed.split('?')[1]));
    const probe = `
      const viewer = require('./viewerRequest/src/handlers/viewer-request.js').handler;
      const origin = require('./originResponse/src/handlers/origin-response.js').handler;
      const copy = (value) => JSON.parse(JSON.stringify(value));
      (async () => {
        const viewerEvent = ${JSON.stringify(viewerEvent)};
        const rewritten = await viewer(copy(viewerEvent), {});
        const originEvent = {
          Records: [{ cf: {
            config: { ...viewerEvent.Records[0].cf.config, eventType: 'origin-response' },
            request: rewritten,
            response: ${JSON.stringify(s3ObjectResponse({ contentLength: 3, contentType: 'image/jpeg' }))},
          } }],
        };
        const passed = await origin(copy(originEvent), {});
        process.stdout.write(JSON.stringify({ rewritten, originEvent, passed }));
      })();`;
    const { stdout } = await run(process.execPath, ['-e', probe], { cwd: bundlesDir });
    const { rewritten, originEvent, passed } = JSON.parse(stdout) as {
      rewritten: { uri: string };
      originEvent: CloudFrontResponseEvent;
      passed: { status: string };
    };

    expect(rewritten.uri).toBe('/derived/a.jpg/160x160-cover-q80-auto');
    expect(passed.status).toBe('200');
    assertLambdaResultConforms(viewerEvent satisfies CloudFrontRequestEvent, rewritten);
    assertLambdaResultConforms(originEvent, passed);
    const zip = await readFile(`${serviceDir}.serverless/viewerRequest.zip`);
    expect(zip.byteLength).toBeLessThan(1024 * 1024);
  });

  it('builds the secret into both bundles, and nowhere else: not the build log, the resolved config, or a committed file', async () => {
    const viewerBundle = await readFile(
      join(bundlesDir, 'viewerRequest/src/handlers/viewer-request.js'),
      'utf8',
    );
    const originBundle = await readFile(
      join(bundlesDir, 'originResponse/src/handlers/origin-response.js'),
      'utf8',
    );
    const state = await readFile(`${serviceDir}.serverless/serverless-state.json`, 'utf8');
    const committed = await run(
      'git',
      ['grep', '--fixed-strings', '--files-with-matches', secret, '--', ':/'],
      {
        cwd: serviceDir,
      },
    ).then(
      ({ stdout }) => stdout,
      (error: { code?: number }) => {
        if (error.code === 1) return ''; // git grep: 1 = no match
        throw error;
      },
    );

    expect(viewerBundle).toContain(secret);
    expect(originBundle).toContain(secret);
    expect(buildOutput).not.toContain(secret);
    expect(state).not.toContain(secret);
    expect(committed).toBe('');
  });

  it('pins the shipped sharp to exactly the versions of the root lock', async () => {
    type Lock = { packages: Record<string, { version?: string; integrity?: string }> };
    const root = JSON.parse(await readFile(`${serviceDir}../package-lock.json`, 'utf8')) as Lock;
    const shipped = JSON.parse(await readFile(`${serviceDir}deploy/package-lock.json`, 'utf8')) as Lock;

    const mismatches = Object.entries(shipped.packages)
      .filter(([path]) => path !== '')
      .filter(([path, entry]) => root.packages[path]?.integrity !== entry.integrity)
      .map(([path]) => path);

    expect(mismatches).toEqual([]);
  });
});

describe('cdn-edge invalidation stack (osls package --config invalidation.yml + cfn-lint)', () => {
  let template: Template;
  let outDir: string;
  const queueArn = 'arn:aws:sqs:us-east-1:123456789012:gantry-cdn-originals';

  // After the edge stack's tests (one file runs its suites in order): serverless-esbuild works in
  // the service folder, so two packagings must not overlap.
  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'gantry-invalidation-'));
    await run(
      'npx',
      [
        'osls',
        'package',
        '--config',
        'invalidation.yml',
        '--stage',
        'dev',
        '--param',
        'distributionId=EDFDVBD6EXAMPLE',
        '--param',
        `queueArn=${queueArn}`,
        '--package',
        outDir,
      ],
      { cwd: serviceDir, timeout: 170_000, env: buildEnv() },
    );
    template = JSON.parse(
      await readFile(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as Template;
    await run('python3', ['-m', 'zipfile', '-e', join(outDir, 'invalidate.zip'), join(outDir, 'bundle')]);
  }, 180_000);

  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('packages a template that cfn-lint reports no errors for', async () => {
    const exitCode = await run('cfn-lint', [join(outDir, 'cloudformation-template-update-stack.json')], {
      timeout: 60_000,
    }).then(
      () => 0,
      (error: { code?: number }) => {
        if (typeof error.code !== 'number') throw error;
        return error.code;
      },
    );

    expect(exitCode & 2).toBe(0);
  }, 90_000);

  it("grants list and delete under the derived prefix, one distribution's invalidations and its queue, nothing else", () => {
    const role = template.Resources.InvalidateRole?.Properties as {
      Policies: Array<{ PolicyDocument: { Statement: Array<{ Action: unknown }> } }>;
    };
    const statements = role.Policies.flatMap((p) => p.PolicyDocument.Statement).filter(
      (s) => !String(s.Action).startsWith('logs:'),
    );

    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: queueArn,
      },
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::gantry-cdn-media-dev',
        Condition: { StringLike: { 's3:prefix': 'derived/*' } },
      },
      { Effect: 'Allow', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::gantry-cdn-media-dev/derived/*' },
      {
        Effect: 'Allow',
        Action: 'cloudfront:CreateInvalidation',
        Resource: {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax, not JavaScript's.
          'Fn::Sub': 'arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/EDFDVBD6EXAMPLE',
        },
      },
    ]);
  });

  it('reads the queue in batches of up to 100 changes gathered for 60 s, two batches at most at once', () => {
    const mapping = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping',
    );

    expect(mapping?.Properties).toMatchObject({
      EventSourceArn: queueArn,
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 60,
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('ships a bundle that loads on its own and drops the S3 test event without calling AWS', async () => {
    const probe = `
      process.env.DISTRIBUTION_ID = 'EDFDVBD6EXAMPLE';
      const { handler } = require('./src/handlers/invalidate.js');
      handler({ Records: [{ messageId: 'm', body: ${JSON.stringify(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent' }))} }] })
        .then((outcome) => process.stdout.write(JSON.stringify(outcome)));`;

    const { stdout } = await run(process.execPath, ['-e', probe], { cwd: join(outDir, 'bundle') });

    expect(JSON.parse(stdout.trim().split('\n').pop() ?? '')).toEqual({ deleted: 0, paths: [] });
  });
});
