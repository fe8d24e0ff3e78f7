/**
 * Where `npm run sandbox -- serve` listens, and the names of the stack it simulates (sandbox/sandbox.ts
 * builds the stack serverless.yml would deploy as stage `sandbox`). `gantry --sandbox` means these.
 * Not LocalStack's 4566, so both can run side by side.
 */
export const sandboxDefaults = {
  port: 4577,
  endpoint: 'http://127.0.0.1:4577',
  region: 'eu-west-1',
  stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-sandbox-deploy',
  coordinationTable: 'gantry-sandbox-coordination',
  parameterPrefix: '/gantry',
} as const;
