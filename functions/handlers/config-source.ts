import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { ConfigSource } from '../src/tracking.ts';
import { configCacheSeconds } from './runtime.ts';

/**
 * Config changes rarely and a push burst asks for it many times: Powertools caches the whole
 * tree per warm instance for a minute, so a config edit takes effect within that minute.
 */
export function cachedConfigSource(ssm: SSMClient, maxAgeSeconds = configCacheSeconds): ConfigSource {
  const provider = new SSMProvider({ awsSdkV3Client: ssm });
  return async (prefix) =>
    (await provider.getMultiple(prefix, {
      recursive: true,
      maxAge: maxAgeSeconds,
      throwOnTransformError: false,
    })) ?? {};
}
