// Called by serverless.yml while osls resolves variables. The ASL file keeps `${key}` placeholders
// so the sandbox can run the very same file with local ARNs: a function key becomes
// `Fn::GetAtt [<Function>LambdaFunction, Arn]`, which serverless-step-functions resolves, and a
// resource key (the coordination table) becomes a `Ref` to that resource.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const placeholder = /^\$\{([A-Za-z0-9]+)\}$/;
const logicalId = (key) => `${key[0].toUpperCase()}${key.slice(1)}LambdaFunction`;
/** Placeholders that name a stack resource rather than a function (sandbox/definition.ts lists the same). */
const resources = { coordinationTable: { Ref: 'CoordinationTable' } };

module.exports.deploy = () =>
  JSON.parse(readFileSync(join(__dirname, 'deploy.asl.json'), 'utf8'), (_key, value) => {
    const match = typeof value === 'string' ? placeholder.exec(value) : null;
    if (!match) return value;
    return resources[match[1]] ?? { 'Fn::GetAtt': [logicalId(match[1]), 'Arn'] };
  });
