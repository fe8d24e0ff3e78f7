import type { DeployConfig } from '../src/config/schema.ts';
import { noteRolloutInFlight } from '../src/coordination/in-flight.ts';
import { registerRolloutWait } from '../src/coordination/waits.ts';
import { fromPreSeamWait, type PreSeamRolloutWait } from '../src/targets/pre-seam.ts';
import { type TargetDeployment, targetFor } from '../src/targets/target.ts';
import { rolloutWaitClients } from './clients.ts';
import { environmentSettings, logger, wrap } from './runtime.ts';

export const awsDefaults = (settings = environmentSettings) => rolloutWaitClients(settings);

/** The state's Parameters: the token, the rollout (`$.deployment` or `$.rollback`) and the plan's config. */
export interface WaitForRolloutEvent {
  taskToken: string;
  deployment: TargetDeployment;
  config: DeployConfig;
  /** The state's timeout: the parked item expires a day after it. */
  timeoutSeconds?: number;
  /** A deploy's wait (not a rollback's): where a rollback request for its app/environment is delivered. */
  inFlight?: { app: string; env: string; mode: 'deploy' | 'rollback' };
}

/**
 * Invoked with `.waitForTaskToken`: its return value is ignored; the execution resumes when
 * someone calls SendTaskSuccess/Failure with the token (this handler, if the rollout already
 * ended, or the target's event handler). The token is stored, never logged.
 */
export const createWaitForRolloutHandler = (deps = awsDefaults()) =>
  wrap(async (event: WaitForRolloutEvent | (PreSeamRolloutWait & { taskToken: string })) => {
    const { taskToken, timeoutSeconds } = event;
    // An execution started before the seam passes the ECS fields instead (targets/pre-seam.ts).
    const { deployment, config } = 'deployment' in event ? event : fromPreSeamWait(event);
    const target = targetFor(config, deps.targets);
    // The target's details first: they can never replace the token or the id the wait is keyed by.
    const wait = {
      ...target.parkedDetails(deployment),
      taskToken,
      deploymentId: deployment.deploymentId,
      ...(timeoutSeconds !== undefined && { timeoutSeconds }),
    };
    const verdict = await registerRolloutWait(deps, wait, async () => {
      if ('inFlight' in event && event.inFlight?.mode === 'deploy') {
        await noteRolloutInFlight(deps, event.inFlight, wait);
      }
      return target.judgeRollout(deployment, { deadlinePassed: false });
    });
    logger.info('waiting for rollout', { deploymentId: deployment.deploymentId, outcome: verdict.outcome });
    return { outcome: verdict.outcome };
  });

export const handler = createWaitForRolloutHandler();
