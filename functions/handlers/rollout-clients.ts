import { ECSClient } from '@aws-sdk/client-ecs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { RolloutDependencies } from '../src/ecs/rollout.ts';
import { parameterPrefix } from './runtime.ts';

/** The three rollout handlers talk to the same services. */
export const rolloutDependencies: RolloutDependencies = {
  ssm: new SSMClient({}),
  ecs: new ECSClient({}),
  sfn: new SFNClient({}),
  parameterPrefix,
};
