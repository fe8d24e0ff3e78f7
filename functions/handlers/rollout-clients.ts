import { ECSClient } from '@aws-sdk/client-ecs';
import type { RolloutDependencies } from '../src/ecs/rollout.ts';
import { coordination } from './coordination-clients.ts';

/** The three rollout handlers talk to the same services. */
export const rolloutDependencies: RolloutDependencies = { ...coordination, ecs: new ECSClient({}) };
