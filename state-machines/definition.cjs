// Called by serverless.yml while osls resolves variables. The ASL file keeps `${functionKey}`
// placeholders so the sandbox can run the very same file with local ARNs; here each becomes
// `Fn::GetAtt [<Function>LambdaFunction, Arn]`, which serverless-step-functions resolves.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const placeholder = /^\$\{([A-Za-z0-9]+)\}$/;
const logicalId = (key) => `${key[0].toUpperCase()}${key.slice(1)}LambdaFunction`;

module.exports.deploy = () =>
  JSON.parse(readFileSync(join(__dirname, 'deploy.asl.json'), 'utf8'), (_key, value) => {
    const match = typeof value === 'string' ? placeholder.exec(value) : null;
    return match ? { 'Fn::GetAtt': [logicalId(match[1]), 'Arn'] } : value;
  });
