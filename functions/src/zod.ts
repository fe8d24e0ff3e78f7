import { en } from 'zod/locales';
import { config } from 'zod/mini';

/**
 * The Lambdas' schemas use `zod/mini`: the same schemas and issues as classic zod, declared with
 * functions instead of methods so a bundle keeps only what it uses (https://zod.dev/packages/mini).
 * Classic zod cost every function that bundled it 8–21 ms of cold-import CPU (README, Figures).
 *
 * `zod/mini` registers no locale: without one every issue reads "Invalid input". Classic zod
 * registers English when its first schema is built (zod/v4/classic/schemas.js), so registering it
 * here keeps every message people read (config errors, refused requests) word for word the same.
 */
config(en());

// Import this module as a namespace (`import * as z`): re-exporting zod's namespace as one object
// would keep all of zod (every locale, JSON Schema) in each bundle, 437 KB where this keeps 33 KB.
export * from 'zod/mini';
