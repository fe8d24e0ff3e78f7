/**
 * The core modules under mutation testing, each with the unit tests that exercise it. One line per
 * module: a new core module joins `npm run mutation` by adding its line here.
 *
 * Tests are narrowed through vitest's `include` (see vitest.config.ts beside this file), never
 * through Stryker's `testFiles`: with `testFiles`, mutants in module-level code survive falsely
 * (stryker-js#6144).
 */
export interface MutationModule {
  /** The source file whose mutants are run. */
  readonly mutate: string;
  /** The test files (globs relative to the repository root) that exercise it. */
  readonly tests: readonly string[];
}

export const mutationModules = {
  // Entry routing
  'image-push': { mutate: 'functions/src/image-push.ts', tests: ['test/functions/image-push.test.ts'] },
  'rollback-request': {
    mutate: 'functions/src/rollback-request.ts',
    // alarm-index.test.ts: the alarm routing through the alarm index lives in rollback-request.ts
    tests: ['test/functions/rollback-request.test.ts', 'test/functions/alarm-index.test.ts'],
  },
  tracking: {
    mutate: 'functions/src/tracking.ts',
    tests: [
      'test/functions/tracking.test.ts',
      'test/functions/image-push.test.ts',
      'test/functions/rollback-request.test.ts',
      'test/functions/alarm-index.test.ts',
    ],
  },
  // The config indexes (repository, alarm) that route pushes and alarms at fleet scale
  'index-table': {
    mutate: 'functions/src/repository-index/index-table.ts',
    tests: [
      'test/functions/index-table.test.ts',
      'test/scale/repository-index.test.ts',
      'test/functions/alarm-index.test.ts',
    ],
  },
  'index-tracking': {
    mutate: 'functions/src/repository-index/tracking.ts',
    tests: [
      'test/functions/index-tracking.test.ts',
      'test/scale/repository-index.test.ts',
      'test/functions/alarm-index.test.ts',
    ],
  },
  'config-change': {
    mutate: 'functions/src/repository-index/config-change.ts',
    tests: [
      'test/functions/config-change.test.ts',
      'test/scale/repository-index.test.ts',
      'test/functions/alarm-index.test.ts',
    ],
  },
  // Coordination
  lock: { mutate: 'functions/src/lock.ts', tests: ['test/functions/lock.test.ts'] },
  waits: {
    mutate: 'functions/src/coordination/waits.ts',
    tests: ['test/functions/coordination-waits.test.ts', 'test/functions/ecs-rollout.test.ts'],
  },
  'execution-ended': {
    mutate: 'functions/src/coordination/execution-ended.ts',
    tests: ['test/functions/lock.test.ts'],
  },
  'task-tokens': {
    mutate: 'functions/src/coordination/task-tokens.ts',
    tests: ['test/functions/lock.test.ts', 'test/functions/coordination-waits.test.ts'],
  },
  table: {
    mutate: 'functions/src/coordination/table.ts',
    tests: [
      'test/functions/coordination-table.test.ts',
      'test/functions/lock.test.ts',
      'test/functions/coordination-waits.test.ts',
      'test/functions/release.test.ts',
    ],
  },
  // Rollout judgement (ECS)
  rollout: { mutate: 'functions/src/ecs/rollout.ts', tests: ['test/functions/ecs-rollout.test.ts'] },
  'ecs-events': {
    mutate: 'functions/src/ecs/events.ts',
    tests: ['test/functions/ecs-rollout.test.ts', 'test/functions/ecs-hook-events.test.ts'],
  },
  // Blue/green, linear and canary (ECS service deployments): the judge, the gates, the rollback delivery
  'ecs-service-deployment': {
    mutate: 'functions/src/ecs/service-deployment.ts',
    tests: ['test/functions/ecs-service-deployment.test.ts', 'test/functions/ecs-hook-events.test.ts'],
  },
  'ecs-gates': { mutate: 'functions/src/ecs/gates.ts', tests: ['test/functions/ecs-gates.test.ts'] },
  'in-flight': {
    mutate: 'functions/src/coordination/in-flight.ts',
    tests: ['test/functions/coordination-in-flight.test.ts', 'test/functions/rollback-request.test.ts'],
  },
  // Deploy and rollback decisions (ECS): circuit-breaker follow-up, controller refusal, unmodelled fields
  'ecs-deploy': {
    mutate: 'functions/src/ecs/deploy.ts',
    tests: ['test/functions/ecs-deploy.test.ts', 'test/functions/ecs-target.test.ts'],
  },
  // The target seam: the one lookup, and ECS behind it
  targets: {
    mutate: 'functions/src/targets/target.ts',
    tests: ['test/functions/targets.test.ts', 'test/functions/ecs-target.test.ts'],
  },
  'pre-seam': {
    mutate: 'functions/src/targets/pre-seam.ts',
    tests: ['test/functions/pre-seam.test.ts', 'test/functions/targets.test.ts'],
  },
  'ecs-target': {
    mutate: 'functions/src/targets/ecs.ts',
    tests: [
      'test/functions/ecs-target.test.ts',
      'test/functions/ecs-target-seam.test.ts',
      'test/functions/targets.test.ts',
      'test/functions/ecs-staged-target.test.ts',
    ],
  },
  'task-definition': {
    mutate: 'functions/src/ecs/task-definition.ts',
    tests: ['test/functions/task-definition.test.ts', 'test/functions/ecs-deploy.test.ts'],
  },
  // The swarm target: the order and its signal, the verdict from the agent's reports, rollback,
  // the Lightsail checks, the target behind the seam and the agent events' handler
  'swarm-order': { mutate: 'functions/src/swarm/order.ts', tests: ['test/swarm/order.test.ts'] },
  'swarm-verdict': { mutate: 'functions/src/swarm/verdict.ts', tests: ['test/swarm/verdict.test.ts'] },
  'swarm-rollback': { mutate: 'functions/src/swarm/rollback.ts', tests: ['test/swarm/rollback.test.ts'] },
  'swarm-lightsail': { mutate: 'functions/src/swarm/lightsail.ts', tests: ['test/swarm/lightsail.test.ts'] },
  'swarm-target': {
    mutate: 'functions/src/targets/swarm.ts',
    tests: ['test/swarm/target.test.ts', 'test/swarm/health-gate.test.ts'],
  },
  'swarm-events': { mutate: 'functions/src/swarm/events.ts', tests: ['test/swarm/target.test.ts'] },
  // Release records
  release: {
    mutate: 'functions/src/release.ts',
    tests: [
      'test/functions/release.test.ts',
      'test/functions/outcome.test.ts',
      'test/functions/deploy-plan.test.ts',
      'test/functions/lock.test.ts',
      'test/functions/image-push.test.ts',
      'test/functions/ecs-rollout.test.ts',
    ],
  },
  outcome: { mutate: 'functions/src/outcome.ts', tests: ['test/functions/outcome.test.ts'] },
  // The reconciler's decisions: lost pushes, drift
  'lost-push': {
    mutate: 'functions/src/reconcile/lost-push.ts',
    tests: ['test/reconcile/decisions.test.ts'],
  },
  drift: { mutate: 'functions/src/reconcile/drift.ts', tests: ['test/reconcile/drift.test.ts'] },
  // The CLI's domain: what gantry status, why, rollback --to and plan read and decide
  status: { mutate: 'functions/src/status.ts', tests: ['test/cli/status.test.ts'] },
  'status-forensics': {
    mutate: 'functions/src/status-forensics.ts',
    tests: ['test/functions/status-forensics.test.ts'],
  },
  'rollback-to': { mutate: 'functions/src/rollback-to.ts', tests: ['test/cli/rollback-to.test.ts'] },
  'dry-run': { mutate: 'functions/src/dry-run.ts', tests: ['test/functions/dry-run.test.ts'] },
  // Edge resizer
  // url.test.ts alone: resize.test.ts (real images, seconds per test) only builds and parses
  // canonical derived URIs, which url.test.ts covers; leaving it out keeps a run to minutes.
  url: { mutate: 'cdn-edge/src/url.ts', tests: ['cdn-edge/test/url.test.ts'] },
  service: {
    mutate: 'cdn-edge/src/service.ts',
    tests: ['cdn-edge/test/service.test.ts', 'cdn-edge/test/resize.test.ts', 'cdn-edge/test/fit.test.ts'],
  },
  storage: { mutate: 'cdn-edge/src/storage.ts', tests: ['cdn-edge/test/storage.test.ts'] },
  signature: {
    mutate: 'cdn-edge/src/signature.ts',
    tests: ['cdn-edge/test/signature.test.ts', 'cdn-edge/test/url.test.ts'],
  },
  routing: { mutate: 'cdn-edge/src/routing.ts', tests: ['cdn-edge/test/routing.test.ts'] },
  resize: {
    mutate: 'cdn-edge/src/resize.ts',
    tests: [
      'cdn-edge/test/resize-judgement.test.ts',
      'cdn-edge/test/resize.test.ts',
      'cdn-edge/test/fit.test.ts',
    ],
  },
  // The resize budget (counted where it holds on AWS), and the invalidation of an original's variants.
  budget: {
    mutate: 'cdn-edge/src/budget.ts',
    tests: ['cdn-edge/test/budget.test.ts', 'cdn-edge/test/service.test.ts'],
  },
  originals: { mutate: 'cdn-edge/src/originals.ts', tests: ['cdn-edge/test/invalidation.test.ts'] },
  invalidation: { mutate: 'cdn-edge/src/invalidation.ts', tests: ['cdn-edge/test/invalidation.test.ts'] },
  // The CloudFront conformance checker (cdn-edge/local): every edge handler result goes through it.
  conformance: { mutate: 'cdn-edge/local/conformance.ts', tests: ['cdn-edge/test/conformance.test.ts'] },
} as const satisfies Record<string, MutationModule>;

export type MutationModuleName = keyof typeof mutationModules;
