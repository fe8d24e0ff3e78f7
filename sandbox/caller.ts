import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

/**
 * Which function made an AWS call, so the sandbox can check every call against that function's
 * IAM role. The function key rides along the async context of its invocation and is stamped on
 * each outgoing HTTP request as it is created (before its headers are sent). Product code knows
 * nothing of it; on AWS the role itself does this job.
 */
export const callerHeader = 'x-gantry-sandbox-caller';

const caller = new AsyncLocalStorage<string>();
let installed = false;

export function asCaller<T>(functionKey: string, work: () => Promise<T>): Promise<T> {
  if (!installed) {
    installed = true;
    subscribe('http.client.request.created', (message) => {
      const functionKey = caller.getStore();
      if (functionKey) (message as { request: ClientRequest }).request.setHeader(callerHeader, functionKey);
    });
  }
  return caller.run(functionKey, work);
}
