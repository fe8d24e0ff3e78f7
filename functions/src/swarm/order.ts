/**
 * Signalling a swarm: the order goes to the app/env's order parameter (the source of truth the
 * agent reads), then a wake-up goes to the swarm's queue (it only says "read your orders now"; the
 * agent's periodic pass covers a lost one).
 */
import { createHash } from 'node:crypto';
import { GetQueueUrlCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describeIssues } from '../config/schema.ts';
import { awsCall, DeployFailed, hasErrorName, InputInvalid } from '../errors.ts';
import type { SwarmTarget } from './config.ts';
import { type SwarmOrder, swarmOrderSchema, swarmParameters } from './contract.ts';

/**
 * Standard parameters hold 4 KB and advanced ones 8 KB (SDK model, @aws-sdk/client-ssm
 * `models_1.d.ts` `PutParameterRequest.Value`/`Tier`). A 20-service order with long ECR image
 * names can pass 4 KB; only then is the advanced tier asked for, since a parameter can never go
 * back to standard ("you can't revert an advanced parameter to a standard parameter", same model).
 */
const standardTierBytes = 4_096;

/**
 * The deployment id of an execution's order: the same execution, kind and force always give the
 * same id, so a retried step writes the same order. The agent applies a deployment id once: its
 * status parameter names the deployment it finished and each service spec it wrote carries the id
 * as a label (agent/src/agent.ts `#handleOrder`, `#apply`), so a rewritten order neither re-runs
 * a finished rollout nor writes a spec twice. A rollback and its forced retry get ids of their own,
 * or the agent would take them for the deploy it already handled.
 */
export function swarmDeploymentId(executionArn: string, kind: SwarmOrder['kind'], force = false): string {
  const digest = createHash('sha256')
    .update(`${executionArn}\n${kind}\n${force ? 'force' : 'plain'}`)
    .digest('hex')
    .slice(0, 32);
  // Within the contract's `[A-Za-z0-9_-]{8,80}`; the kind first, for people reading the status.
  return `${kind}${force ? '-forced' : ''}-${digest}`;
}

/** `registry/repository@sha256:…`: the only form the contract and the agent accept. */
export function pinnedImage(registry: string, repository: string, digest: string): string {
  return `${registry}/${repository}@${digest}`;
}

/**
 * Every service of the target on the app's image, for a deploy order: the repository at `digest`,
 * in the target's own registry when it names one (how CI uses a local registry), else the
 * account's ECR registry (`ecrRegistryHost`, e.g. from `ecrRegistry(account, region)`).
 */
export function servicesOnImage(
  target: SwarmTarget,
  image: { readonly repository: string; readonly digest: string },
  ecrRegistryHost: string,
): { name: string; image: string }[] {
  const pinned = pinnedImage(target.registry ?? ecrRegistryHost, image.repository, image.digest);
  return target.services.map((service) => ({ name: service.name, image: pinned }));
}

export interface SwarmOrderInput {
  readonly app: string;
  readonly env: string;
  readonly target: SwarmTarget;
  readonly kind: SwarmOrder['kind'];
  readonly executionArn: string;
  /** When the order was decided (ISO 8601); pass a value a retried step sees again. */
  readonly orderedAt: string;
  /** Each service with its pinned image: one image for a deploy, last-good per service for a rollback. */
  readonly services: readonly { readonly name: string; readonly image: string }[];
  readonly environmentVersion?: number;
  readonly force?: boolean;
}

/**
 * The order, checked against the contract before anything is written: an order the agent would
 * refuse is refused here, with nothing changed.
 */
export function buildSwarmOrder(input: SwarmOrderInput): SwarmOrder {
  const configured = input.target.services.map((service) => service.name);
  const ordered = input.services.map((service) => service.name);
  const missing = configured.filter((name) => !ordered.includes(name));
  const foreign = ordered.filter((name) => !configured.includes(name));
  // All or nothing: an order names every service of the stack and nothing else.
  if (missing.length > 0 || foreign.length > 0) {
    throw new InputInvalid(
      `the order must name exactly the target's services (missing: ${missing.join(', ') || 'none'}; not in the target: ${foreign.join(', ') || 'none'})`,
    );
  }
  const force = input.force ?? false;
  const parsed = swarmOrderSchema.safeParse({
    schemaVersion: 1,
    app: input.app,
    env: input.env,
    deploymentId: swarmDeploymentId(input.executionArn, input.kind, force),
    kind: input.kind,
    executionArn: input.executionArn,
    orderedAt: input.orderedAt,
    services: input.services.map((service) => ({ name: service.name, image: service.image })),
    ...(input.environmentVersion === undefined ? {} : { environmentVersion: input.environmentVersion }),
    force,
    policy: input.target.policy,
  });
  if (!parsed.success) {
    throw new InputInvalid(`the swarm order is invalid: ${describeIssues(parsed.error).join('; ')}`);
  }
  return parsed.data;
}

export interface SwarmSignalClients {
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
}

export interface SwarmSignal {
  readonly orderParameter: string;
  readonly orderVersion: number;
  readonly messageId: string;
}

/**
 * Finds the queue, writes the order, then wakes the agent. The queue first, so a queue that does
 * not exist fails the step with nothing changed; the order before the wake-up, since a wake-up
 * that arrived first would find nothing new and the order would wait for the agent's periodic pass.
 *
 * The queue URL is asked of SQS (GetQueueUrl, "useful when you know the queue's name but need to
 * retrieve its URL", API_GetQueueUrl) rather than built from the region and account: the URL SQS
 * returns is the one its endpoint serves, and the SDK sends each call to the QueueUrl's host
 * unless the client has an explicit endpoint (@aws-sdk/middleware-sdk-sqs `queueUrlMiddleware`,
 * `useQueueUrlAsEndpoint`), so a hand-built AWS URL would take a sandbox call to AWS.
 */
export async function signalSwarm(
  clients: SwarmSignalClients,
  parameterPrefix: string,
  queueName: string,
  order: SwarmOrder,
): Promise<SwarmSignal> {
  const queueUrl = await findQueue(clients.sqs, queueName);
  const orderParameter = swarmParameters(parameterPrefix, order.app, order.env).order;
  const value = JSON.stringify(order);
  const { Version } = await awsCall(`writing the order ${orderParameter}`, () =>
    clients.ssm.send(
      new PutParameterCommand({
        Name: orderParameter,
        Value: value,
        Type: 'String',
        Overwrite: true,
        ...(Buffer.byteLength(value, 'utf8') > standardTierBytes ? { Tier: 'Advanced' as const } : {}),
      }),
    ),
  );
  // Ids only: the agent reads the order itself, so the message carries nothing it must trust.
  const { MessageId } = await awsCall(`waking the swarm on ${queueName}`, () =>
    clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify({ app: order.app, env: order.env, deploymentId: order.deploymentId }),
      }),
    ),
  );
  return { orderParameter, orderVersion: Version ?? 0, messageId: MessageId ?? '' };
}

async function findQueue(sqs: SQSClient, queueName: string): Promise<string> {
  try {
    const { QueueUrl } = await awsCall(`finding the queue ${queueName}`, () =>
      sqs.send(new GetQueueUrlCommand({ QueueName: queueName })),
    );
    if (QueueUrl !== undefined) return QueueUrl;
  } catch (error) {
    // The JSON protocol's name for AWS.SimpleQueueService.NonExistentQueue (SDK model errors.d.ts
    // `QueueDoesNotExist`): the config names a queue that is not there. Nothing was changed.
    if (!hasErrorName(error, 'QueueDoesNotExist')) throw error;
  }
  throw new DeployFailed(`the swarm's wake-up queue ${queueName} does not exist`);
}
