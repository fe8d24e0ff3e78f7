import { DescribeServicesCommand, DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { targetFor } from '../../functions/src/targets/target.ts';
import {
  describeServicesResponse,
  describeTaskDefinitionResponse,
  ecsTargetClients,
  serviceOf,
  story,
  webConfig,
} from '../support/aws-fixtures.ts';

/** What the reconciler asks an ECS target: "what runs", and once a drift is confirmed, which image. */
const ecsMock = mockClient(ECSClient);
const target = () => targetFor(webConfig, ecsTargetClients(new ECSClient({ region: story.region })));

beforeEach(() => {
  ecsMock.on(DescribeServicesCommand).resolves(describeServicesResponse(serviceOf()));
  ecsMock.on(DescribeTaskDefinitionCommand).resolves(describeTaskDefinitionResponse());
});
afterEach(() => ecsMock.reset());

describe('the ECS target read what is live', () => {
  it('costs one DescribeServices: the service task definition', async () => {
    expect(await target().readLive()).toEqual({ revision: story.previousTaskDefinitionArn });
    expect(ecsMock).toHaveReceivedCommandTimes(DescribeServicesCommand, 1);
    expect(ecsMock).not.toHaveReceivedCommand(DescribeTaskDefinitionCommand);
  });

  it('adds the tracked container image from that revision when asked', async () => {
    expect(await target().readLive({ withImage: true })).toEqual({
      revision: story.previousTaskDefinitionArn,
      image: `${story.registry}/web@${story.previousDigest}`,
    });
    expect(ecsMock).toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, {
      taskDefinition: story.previousTaskDefinitionArn,
    });
  });
});
