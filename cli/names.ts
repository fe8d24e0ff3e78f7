import { nameSchema } from '../functions/src/config/schema.ts';
import { UsageError } from './output.ts';

/** An app or environment name as Gantry's schema allows it; a usage error naming the bad one. */
export function appEnvArguments(app: string, env: string): { app: string; env: string } {
  for (const [what, value] of [
    ['app', app],
    ['env', env],
  ] as const) {
    if (!nameSchema.safeParse(value).success) {
      throw new UsageError(
        `${what} "${value.slice(0, 60)}" is not a valid name: lower-case letters, digits and dashes, at most 40 characters`,
      );
    }
  }
  return { app, env };
}
