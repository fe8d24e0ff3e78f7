import * as z from 'zod';

/**
 * Schema of `config/edge.config.json`. Lambda@Edge has no environment variables, so this file is
 * bundled into both functions at build time, with the signing secret given to the build (never
 * committed); `osls package` refuses to build when either is missing or invalid. Every object is
 * strict: a typo in a key is an error, not a silently ignored option.
 */
const fit = z.enum(['cover', 'contain', 'fill', 'inside', 'outside']);
const dimension = z.number().int().positive().max(8192);
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name');
const keyPrefix = z
  .string()
  .max(256)
  .refine((p) => p === '' || p.endsWith('/'), 'must be empty or end with "/"')
  .refine((p) => !p.startsWith('/'), 'must not start with "/"');

// HMAC-SHA256 keys shorter than the hash output weaken it (RFC 2104 §3: at least L = 32 bytes).
const signingSecret = z.string().min(32, 'must be at least 32 characters');

const configShape = {
  derived: z.strictObject({
    bucket: bucketName,
    prefix: keyPrefix.refine((p) => p !== '', 'must not be empty'),
    region: z.string().min(1),
  }),
  routes: z.array(z.strictObject({ match: keyPrefix, bucket: bucketName, keyPrefix: keyPrefix })).min(1),
  presets: z.record(
    z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'preset names are lowercase words'),
    z.strictObject({ width: z.number().int().min(0), height: z.number().int().min(0), fit }),
  ),
  widths: z.array(dimension).min(1),
  heights: z.array(dimension).min(1),
  qualities: z.array(z.number().int().min(1).max(100)).min(1),
  defaultQuality: z.number().int(),
  defaultFit: fit,
  formats: z.strictObject({ avif: z.boolean(), webp: z.boolean() }),
  limits: z.strictObject({
    maxInputBytes: z.number().int().positive(),
    maxInputPixels: z.number().int().positive(),
    maxConcurrentResizes: z.number().int().positive(),
    maxQueuedResizes: z.number().int().min(0),
    retryAfterSeconds: z.number().int().positive(),
  }),
  cache: z.strictObject({
    successMaxAge: z.number().int().positive(),
    errorMaxAge: z.number().int().min(0),
  }),
  /**
   * Fitting a lossy result under the generated-response cap before falling back to store + 302
   * (service.ts): re-encode at lower qualities of `qualities`, never below `minQuality`, at most
   * `maxReencodes` times. Optional, so configs written before it keep their meaning.
   */
  fitToResponse: z
    .strictObject({
      minQuality: z.number().int().min(1).max(100),
      maxReencodes: z.number().int().min(0).max(4),
    })
    .default({ minQuality: 60, maxReencodes: 2 }),
  /**
   * AVIF encode effort (sharp/libvips 0–9). Capped at 3: effort 4 took 7–26 s for a 1920 px output
   * on the 2-core dev machine (bench), against the origin-response timeout of 30 s. Outputs over
   * `maxFullEffortPixels` are encoded at `reducedEffort`: above ~1 MP effort 2 cost 2–5× the time
   * of effort 0 for 1–17% fewer bytes (README, AVIF effort).
   */
  avif: z
    .strictObject({
      effort: z.number().int().min(0).max(3),
      reducedEffort: z.number().int().min(0).max(3),
      maxFullEffortPixels: z.number().int().positive(),
    })
    .default({ effort: 2, reducedEffort: 0, maxFullEffortPixels: 1_048_576 }),
  // The resize budget (src/budget.ts): counted with one ListObjectsV2 call, whose MaxKeys is at
  // most 1,000 (ListObjectsV2Request.MaxKeys, S3 SDK model), hence the cap's bound.
  budget: z.strictObject({
    maxVariantsPerOriginal: z.number().int().min(1).max(1000),
    maxNewVariantsPerWindow: z.number().int().min(1),
    windowSeconds: z.number().int().positive(),
    /** How long a refusal is cached (seconds): Retry-After and max-age of the 503. */
    refusalMaxAge: z.number().int().positive(),
  }),
};

type ConfigBase = z.infer<z.ZodObject<typeof configShape>>;

function checkConsistency(c: ConfigBase, ctx: z.RefinementCtx): void {
  if (!c.qualities.includes(c.defaultQuality)) {
    ctx.addIssue({ code: 'custom', path: ['defaultQuality'], message: 'must be one of "qualities"' });
  }
  if (c.avif.reducedEffort > c.avif.effort) {
    ctx.addIssue({ code: 'custom', path: ['avif', 'reducedEffort'], message: 'must not exceed "effort"' });
  }
  if (c.budget.maxNewVariantsPerWindow > c.budget.maxVariantsPerOriginal) {
    // The rate is read from the same listing, which shows at most the cap.
    ctx.addIssue({
      code: 'custom',
      path: ['budget', 'maxNewVariantsPerWindow'],
      message: 'must not exceed "maxVariantsPerOriginal"',
    });
  }
  const derivedHead = c.derived.prefix.split('/')[0];
  for (const [name, preset] of Object.entries(c.presets)) {
    if (name === derivedHead) {
      ctx.addIssue({ code: 'custom', path: ['presets', name], message: 'clashes with the derived prefix' });
    }
    if (preset.width === 0 && preset.height === 0) {
      ctx.addIssue({ code: 'custom', path: ['presets', name], message: 'needs a width or a height' });
    }
    if (preset.width !== 0 && !c.widths.includes(preset.width)) {
      ctx.addIssue({ code: 'custom', path: ['presets', name, 'width'], message: 'must be one of "widths"' });
    }
    if (preset.height !== 0 && !c.heights.includes(preset.height)) {
      ctx.addIssue({
        code: 'custom',
        path: ['presets', name, 'height'],
        message: 'must be one of "heights"',
      });
    }
  }
  for (const [i, route] of c.routes.entries()) {
    // The longest match wins whatever the order; two rules with the same match would leave the
    // order to decide after all.
    if (c.routes.findIndex((other) => other.match === route.match) < i) {
      ctx.addIssue({
        code: 'custom',
        path: ['routes', i, 'match'],
        message: 'another route has the same match',
      });
    }
    if (route.bucket === c.derived.bucket && route.keyPrefix.startsWith(c.derived.prefix)) {
      ctx.addIssue({
        code: 'custom',
        path: ['routes', i, 'keyPrefix'],
        message: 'originals must not live under the derived prefix',
      });
    }
  }
}

/**
 * The committed file: `signing` says whether signatures are required, never the secret. The object
 * is strict, so a secret pasted into the file is an error ("Unrecognized key"), not a leak.
 */
export const edgeConfigFileSchema = z
  .strictObject({ ...configShape, signing: z.strictObject({ required: z.boolean() }).optional() })
  .superRefine(checkConsistency);

/** The config the code runs with: the file plus the signing secret built into the bundle. */
export const edgeConfigSchema = z
  .strictObject({
    ...configShape,
    signing: z.strictObject({ required: z.boolean(), secret: signingSecret }).optional(),
  })
  .superRefine(checkConsistency);

export type EdgeConfigFile = z.infer<typeof edgeConfigFileSchema>;
export type EdgeConfig = z.infer<typeof edgeConfigSchema>;
export type Fit = z.infer<typeof fit>;

export class EdgeConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EdgeConfigError';
  }
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const fields = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new EdgeConfigError(`Invalid ${what}: ${fields.join('; ')}`, { cause: result.error });
  }
  return result.data;
}

/** Parses and validates a runtime config (file + secret); the error names every bad field. */
export function parseEdgeConfig(raw: unknown): EdgeConfig {
  return parseWith(edgeConfigSchema, raw, 'edge config');
}

/** Parses and validates `config/edge.config.json` as committed; the error names every bad field. */
export function parseEdgeConfigFile(raw: unknown): EdgeConfigFile {
  return parseWith(edgeConfigFileSchema, raw, 'edge config file');
}
