import * as z from '../zod.ts';

/** A gate decision, kept in the execution's state and in the release record. */
export const gateDecisionSchema = z.object({
  hookId: z.string(),
  /** Open string: the SDK's enum lags the documented stages (PRE_PRODUCTION_TRAFFIC_SHIFT). */
  lifecycleStage: z.string(),
  action: z.enum(['CONTINUE', 'ROLLBACK']),
  /** Why: one line per check that failed, or the checks that passed. */
  reasons: z.array(z.string()),
  decidedAt: z.string(),
  /** False when ECS refused the answer because the hook went stale (superseded, expired, answered). */
  sent: z.boolean(),
});
export type GateDecision = z.infer<typeof gateDecisionSchema>;

/**
 * How Gantry follows one ECS service deployment (blue/green, linear, canary): kept in
 * `$.deployment.watch` (and `$.rollback.watch`) and beside the parked token, so every reader
 * judges it from the same facts.
 */
export const watchSchema = z.object({
  serviceDeploymentArn: z.string(),
  strategy: z.enum(['BLUE_GREEN', 'LINEAR', 'CANARY']),
  /** The status that means "done as intended": SUCCESSFUL forward, ROLLBACK_SUCCESSFUL after Gantry's stop. */
  expect: z.enum(['SUCCESSFUL', 'ROLLBACK_SUCCESSFUL']),
  /** Whether Gantry answers the pause hooks (config `gates`). */
  gated: z.boolean(),
  /** Seconds of bake after each traffic step but the last, and after the last one. */
  stepBakeSeconds: z.number(),
  bakeSeconds: z.number(),
  /** The state's timeout: until the expected end of the current step or bake, plus the health budget. */
  waitSeconds: z.number(),
  /** Timer expiries left before a deployment that is still running counts as timed out. */
  rechecksLeft: z.number(),
  gates: z.array(gateDecisionSchema),
});
export type ServiceDeploymentWatch = z.infer<typeof watchSchema>;
export type StagedStrategy = ServiceDeploymentWatch['strategy'];
