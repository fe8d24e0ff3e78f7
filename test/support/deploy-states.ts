import { failureCause } from '../../functions/src/coordination/waits.ts';
import type { DeployPlan } from '../../functions/src/deploy-plan.ts';
import type { DeployedImage } from '../../functions/src/release.ts';
import type { TargetDeployment } from '../../functions/src/targets/target.ts';
import { crashed, stoppedTask, story, webConfig } from './aws-fixtures.ts';

/*
 * Deploy states as the state machine hands them to RecordRelease, RecordRollback and Rollback:
 * v1.4.2 replacing the live v1.4.1, which replaced v1.4.0.
 */

export const rollbackDeploymentId = 'ecs-svc/5555555555555555555';

export const older: DeployedImage = {
  image: `${story.registry}/web@sha256:${'c'.repeat(64)}`,
  digest: `sha256:${'c'.repeat(64)}`,
  tag: 'v1.4.0',
  revision: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:40',
};
export const live: DeployedImage = {
  image: `${story.registry}/web@${story.previousDigest}`,
  digest: story.previousDigest,
  tag: 'v1.4.1',
  revision: story.previousTaskDefinitionArn,
};
export const desired = {
  image: `${story.registry}/web@${story.digest}`,
  digest: story.digest,
  tag: 'v1.4.2',
};

export function planOf(overrides: Partial<DeployPlan> = {}): DeployPlan {
  return {
    app: 'web',
    env: 'prod',
    executionArn: story.executionArn,
    requestedAt: '2025-06-03T10:15:01Z',
    source: 'ecr-push',
    mode: 'deploy',
    config: webConfig,
    desired,
    live,
    livePrevious: older,
    ...overrides,
  };
}

/** What Deploy puts at `$.deployment` for an ECS target. */
export const deployment: TargetDeployment = {
  target: 'ecs',
  deploymentId: story.deploymentId,
  revision: story.taskDefinitionArn,
  previousRevision: story.previousTaskDefinitionArn,
  previousImage: live.image,
};

/** What Step Functions' Catch puts in `$.failure` when the rollout wait failed via SendTaskFailure. */
export function rolloutFailure(ecsRolledBack: boolean) {
  return {
    Error: 'RolloutFailed',
    Cause: failureCause({
      outcome: 'failed',
      error: 'RolloutFailed',
      message: 'ECS reported the rollout FAILED: ECS deployment circuit breaker: task failed to start.',
      deploymentId: story.deploymentId,
      ecsRolledBack,
      stoppedTasks: [stoppedTask(1, crashed), stoppedTask(2, crashed)].map((task) => ({
        taskArn: task.taskArn ?? '',
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: [{ name: 'app', exitCode: 1 }],
      })),
    }),
  };
}

/** The same failure thrown by a Lambda (checkRollout): Lambda wraps Gantry's JSON message in its own. */
export function lambdaFailure() {
  const inner = rolloutFailure(false).Cause;
  return {
    Error: 'RolloutFailed',
    Cause: JSON.stringify({
      errorType: 'RolloutFailed',
      errorMessage: inner,
      trace: ['RolloutFailed: {"message":…', '    at lambdaHandler (/var/task/check-rollout.mjs:1:2)'],
    }),
  };
}
