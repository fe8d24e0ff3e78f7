import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { PushDependencies } from '../src/image-push.ts';
import type { ConfigSource } from '../src/tracking.ts';
import { type ClientSettings, type HandlerSettings, lazily } from './runtime.ts';

/**
 * Config changes rarely and a push burst asks for it many times: Powertools caches the whole
 * tree per warm instance for a minute, so a config edit takes effect within that minute.
 */
export function cachedConfigSource(ssm: SSMClient, maxAgeSeconds: number): ConfigSource {
  const provider = new SSMProvider({ awsSdkV3Client: ssm });
  return async (prefix) =>
    (await provider.getMultiple(prefix, {
      recursive: true,
      maxAge: maxAgeSeconds,
      throwOnTransformError: false,
    })) ?? {};
}

/**
 * The entry Lambdas' Parameter Store client. A push burst starts many of them at once, each reading
 * the config tree from the read quota the whole account shares (40/s by default): the SDK's
 * adaptive retry mode adds client-side rate limiting to standard retries, meant for "single-resource,
 * throttling-heavy, latency-tolerant" callers (AWS SDKs and Tools reference guide, "Retry behavior":
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html), and more attempts
 * let one invocation ride out a burst instead of failing into Lambda's minute-later retry, when a
 * whole burst's retries would land together again.
 */
export function entrySsmClient(client: ClientSettings): SSMClient {
  return new SSMClient({ ...client, retryMode: 'adaptive', maxAttempts: 10 });
}

/** What both entry Lambdas (onImagePushed, onRollbackRequested) need, each built on first use. */
export function entryClients(settings: HandlerSettings): PushDependencies {
  const deps: PushDependencies = lazily<PushDependencies>({
    ssm: () => entrySsmClient(settings.client),
    sfn: () => new SFNClient(settings.client),
    configSource: () => cachedConfigSource(deps.ssm, settings.configCacheSeconds),
    parameterPrefix: () => settings.parameterPrefix,
    stateMachineArn: () => settings.stateMachineArn,
  });
  return deps;
}
