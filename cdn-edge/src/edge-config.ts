import raw from '../config/edge.config.json' with { type: 'json' };
import type { EdgeConfig } from './config.ts';

/**
 * The config baked into the bundles. It is not parsed here on purpose: zod would add ~90 KB to the
 * viewer-request bundle (limit 20 KB). It is validated instead when the stack is packaged
 * (`config/validate.cjs`, called from serverless.yml), by the origin-response handler at init,
 * and by the test suite.
 */
export const bakedConfig = raw as EdgeConfig;
