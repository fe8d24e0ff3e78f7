import * as z from '../zod.ts';

/**
 * App and environment names become parameter path segments and execution-name parts. Its own
 * module so the swarm contract (which the config schema's target union imports) can use it
 * without an import cycle.
 */
export const nameSchema = z
  .string()
  .check(
    z.regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, at most 40 characters'),
  );
