/**
 * The agent's entry point (the bundle's `main`): reads the config named by `--config` or
 * GANTRY_AGENT_CONFIG, creates the AWS clients from the default credential chain and dockerode on
 * the engine's socket, and runs until SIGTERM/SIGINT.
 */
import { ECRClient } from '@aws-sdk/client-ecr';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import Docker from 'dockerode';
import { SwarmAgent } from './agent.ts';
import { loadAgentConfig } from './config.ts';

async function main(): Promise<void> {
  const flag = process.argv.indexOf('--config');
  const path = flag >= 0 ? process.argv[flag + 1] : process.env.GANTRY_AGENT_CONFIG;
  if (path === undefined || path === '') {
    throw new Error('usage: gantry-agent --config /etc/gantry/agent.json (or GANTRY_AGENT_CONFIG)');
  }
  const config = await loadAgentConfig(path);
  const aws = config.region === undefined ? {} : { region: config.region };
  const agent = new SwarmAgent(config, {
    ssm: new SSMClient(aws),
    // The long poll holds the connection 20 s: the SDK's default request timeout (none) is fine.
    sqs: new SQSClient(aws),
    ecr: new ECRClient(aws),
    events: new EventBridgeClient(aws),
    // DOCKER_HOST or /var/run/docker.sock, as the docker CLI would.
    docker: new Docker(),
  });
  agent.start();
  const stop = (signal: string) => {
    console.log(JSON.stringify({ level: 'info', msg: `stopping on ${signal}` }));
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(
    JSON.stringify({
      level: 'error',
      msg: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    }),
  );
  process.exit(1);
});
