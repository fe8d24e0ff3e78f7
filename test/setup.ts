import 'aws-sdk-client-mock-vitest/extend';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { expect } from 'vitest';

expect.extend(allCustomMatcher);

// Handlers read these once at import; dummy values only, nothing here reaches AWS.
process.env.AWS_REGION ??= 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.DEPLOY_STATE_MACHINE_ARN ??=
  'arn:aws:states:eu-west-1:123456789012:stateMachine:gantry-test-deploy';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
