import { describe, expect, it } from 'vitest';
import type { DeployState } from '../../functions/src/deploy-state.ts';
import { fromPreSeamWait, withNeutralState } from '../../functions/src/targets/pre-seam.ts';
import { story, webConfig } from '../support/aws-fixtures.ts';
import { deployment, desired, live, older, planOf, rollbackDeploymentId } from '../support/deploy-states.ts';

/*
 * Executions started before targets were neutral carry ECS field names in their state; the
 * functions they call now read them as the neutral ones.
 */

/** A DeployedImage as an old execution recorded it: the task definition ARN, no `revision`. */
function preSeamImage<T extends { revision?: string }>(image: T) {
  const { revision, ...rest } = image;
  return { ...rest, taskDefinitionArn: revision };
}

describe('withNeutralState', () => {
  it("reads the plan's old task definition ARNs as revisions", () => {
    // Prepare
    const oldState = {
      plan: planOf({
        desired: {
          ...desired,
          taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42',
        },
        live: preSeamImage(live),
        livePrevious: preSeamImage(older),
      } as never),
    } as DeployState;

    // Act
    const { plan } = withNeutralState(oldState);

    // Assess
    expect(plan.desired).toEqual({
      ...desired,
      revision: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42',
    });
    expect(plan.live).toEqual(live);
    expect(plan.livePrevious).toEqual(older);
  });

  it('leaves a plan that already names revisions, or has no release recorded, as it is', () => {
    // Prepare
    const firstDeploy = { plan: planOf({ live: null, livePrevious: null }) };
    const current = { plan: planOf() };

    // Act / Assess
    expect(withNeutralState(firstDeploy)).toStrictEqual(firstDeploy);
    expect(withNeutralState(current)).toStrictEqual(current);
  });

  it('keeps the revision a plan image names over a stray task definition ARN', () => {
    // Prepare
    const mixed = { ...live, taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1' };

    // Act
    const { plan } = withNeutralState({ plan: planOf({ live: mixed }) });

    // Assess
    expect(plan.live).toBe(mixed);
  });

  it('reads an old $.deployment and $.rollback as ECS target deployments, keeping the previous image', () => {
    // Prepare
    const oldState = {
      plan: planOf(),
      deployment: {
        deploymentId: story.deploymentId,
        taskDefinitionArn: story.taskDefinitionArn,
        previousTaskDefinitionArn: story.previousTaskDefinitionArn,
        previousImage: live.image,
      },
      rollback: {
        deploymentId: rollbackDeploymentId,
        taskDefinitionArn: story.previousTaskDefinitionArn,
        previousTaskDefinitionArn: story.taskDefinitionArn,
      },
    } as unknown as DeployState;

    // Act
    const state = withNeutralState(oldState);

    // Assess
    expect(state.deployment).toEqual(deployment);
    expect(state.rollback).toEqual({
      target: 'ecs',
      deploymentId: rollbackDeploymentId,
      revision: story.previousTaskDefinitionArn,
      previousRevision: story.taskDefinitionArn,
    });
  });

  it("names the revisions 'unknown' when an old $.deployment lacks them", () => {
    // Prepare
    const oldState = {
      plan: planOf(),
      deployment: { deploymentId: story.deploymentId },
    } as unknown as DeployState;

    // Act
    const state = withNeutralState(oldState);

    // Assess
    expect(state.deployment).toEqual({
      target: 'ecs',
      deploymentId: story.deploymentId,
      revision: 'unknown',
      previousRevision: 'unknown',
    });
  });

  it('leaves a neutral $.deployment as it is, and adds none where there was none', () => {
    // Prepare
    const current: DeployState = { plan: planOf(), deployment };

    // Act
    const state = withNeutralState(current);
    const before = withNeutralState({ plan: planOf() });

    // Assess
    expect(state.deployment).toBe(deployment);
    expect(Object.keys(before)).toEqual(['plan']);
  });
});

describe('fromPreSeamWait', () => {
  it('names the ECS service and the failure limit of an old wait', () => {
    // Act
    const { deployment: named, config } = fromPreSeamWait({
      cluster: webConfig.target.cluster,
      service: webConfig.target.service,
      deploymentId: story.deploymentId,
      maxFailedTasks: 3,
      timeoutSeconds: 600,
    });

    // Assess
    expect(named).toEqual({
      target: 'ecs',
      deploymentId: story.deploymentId,
      revision: 'unknown',
      previousRevision: 'unknown',
    });
    expect(config).toEqual({
      repository: 'unknown',
      target: {
        type: 'ecs',
        cluster: webConfig.target.cluster,
        service: webConfig.target.service,
        container: 'unknown',
      },
      health: { timeoutSeconds: 600, maxFailedTasks: 3 },
      rollbackAlarms: [],
    });
  });

  it("gives an old wait without a timeout the config's default, 900 seconds", () => {
    // Act
    const { config } = fromPreSeamWait({
      cluster: webConfig.target.cluster,
      service: webConfig.target.service,
      deploymentId: story.deploymentId,
      maxFailedTasks: 2,
    });

    // Assess
    expect(config.health.timeoutSeconds).toBe(900);
  });
});
