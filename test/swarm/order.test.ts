import {
  GetQueueUrlCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkOrder } from '../../agent/src/decide.ts';
import { swarmOrderSchema } from '../../functions/src/swarm/contract.ts';
import {
  buildSwarmOrder,
  servicesOnImage,
  signalSwarm,
  swarmDeploymentId,
} from '../../functions/src/swarm/order.ts';
import { type Emulator, startEmulator } from '../../sandbox/emulator/index.ts';
import { deployOrder, executionArn, newImage, orderedAt, registry, target } from './fixtures.ts';

const orderInput = {
  app: 'shop',
  env: 'prod',
  target,
  kind: 'deploy' as const,
  executionArn,
  orderedAt,
  services: target.services.map((service) => ({ name: service.name, image: newImage })),
};

describe('swarm order', () => {
  describe('swarmDeploymentId', () => {
    it('gives a retried step the same id, and a rollback or a forced rollback ids of their own', () => {
      // Act
      const ids = [
        swarmDeploymentId(executionArn, 'deploy'),
        swarmDeploymentId(executionArn, 'deploy'),
        swarmDeploymentId(executionArn, 'rollback'),
        swarmDeploymentId(executionArn, 'rollback', true),
        swarmDeploymentId(`${executionArn}-2`, 'deploy'),
      ];

      // Assess
      expect(ids[0]).toBe(ids[1]);
      expect(new Set(ids).size).toBe(4);
      for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{8,80}$/);
    });
  });

  describe('swarmDeploymentId is stable across Gantry versions', () => {
    it('gives the very ids an agent may already have recorded for this execution', () => {
      // The agent keeps the id it finished in its status and in each service's label: an upgraded
      // Gantry resuming the same execution must compute the same ones.
      expect(swarmDeploymentId(executionArn, 'deploy')).toBe('deploy-e7f3ee6640c4699a65636a2d76b4e786');
      expect(swarmDeploymentId(executionArn, 'rollback', true)).toBe(
        'rollback-forced-1be8340911e5978176ef2e6cecc5f706',
      );
    });
  });

  describe('servicesOnImage', () => {
    it('puts every service on the app image in ECR, or in the registry the target names', () => {
      // Prepare
      const digest = `sha256:${'b'.repeat(64)}`;

      // Act
      const inEcr = servicesOnImage(target, { repository: 'shop', digest }, registry);
      const inLocal = servicesOnImage(
        { ...target, registry: '127.0.0.1:5000' },
        { repository: 'shop', digest },
        registry,
      );

      // Assess
      expect(inEcr).toEqual([
        { name: 'shop_web', image: newImage },
        { name: 'shop_worker', image: newImage },
      ]);
      expect(inLocal.map((s) => s.image)).toEqual([
        `127.0.0.1:5000/shop@${digest}`,
        `127.0.0.1:5000/shop@${digest}`,
      ]);
    });
  });

  describe('buildSwarmOrder', () => {
    it('builds an order the contract and the agent accept', () => {
      // Act
      const order = buildSwarmOrder(orderInput);

      // Assess
      expect(swarmOrderSchema.parse(order)).toEqual(order);
      expect(order).toMatchObject({ schemaVersion: 1, kind: 'deploy', force: false, policy: target.policy });
      const agentView = checkOrder(
        JSON.stringify(order),
        { app: 'shop', env: 'prod', services: ['shop_web', 'shop_worker'] },
        {
          registries: [{ registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', repositories: ['shop'] }],
        },
      );
      expect(agentView).toEqual({ ok: true, order });
    });

    it('refuses an order missing one of the target services (all or nothing)', () => {
      // Act
      const build = () => buildSwarmOrder({ ...orderInput, services: orderInput.services.slice(0, 1) });

      // Assess
      expect(build).toThrow(
        expect.objectContaining({
          name: 'InputInvalid',
          message: expect.stringContaining('missing: shop_worker'),
        }),
      );
    });

    it('refuses an order naming a service outside the target', () => {
      // Act
      const build = () =>
        buildSwarmOrder({
          ...orderInput,
          services: [...orderInput.services, { name: 'shop_cron', image: newImage }],
        });

      // Assess
      expect(build).toThrow(
        expect.objectContaining({
          message:
            "the order must name exactly the target's services (missing: none; not in the target: shop_cron)",
        }),
      );
    });

    it('carries the environment version the agent renders, so a retry renders the same', () => {
      // Act
      const order = buildSwarmOrder({ ...orderInput, environmentVersion: 4 });

      // Assess
      expect(order.environmentVersion).toBe(4);
      expect(buildSwarmOrder(orderInput)).not.toHaveProperty('environmentVersion');
    });

    it('names every missing and foreign service in its refusal', () => {
      // Act / Assess
      expect(() =>
        buildSwarmOrder({ ...orderInput, services: [{ name: 'shop_other', image: newImage }] }),
      ).toThrow(
        "the order must name exactly the target's services (missing: shop_web, shop_worker; not in the target: shop_other)",
      );
      expect(() => buildSwarmOrder({ ...orderInput, services: orderInput.services.slice(0, 1) })).toThrow(
        "the order must name exactly the target's services (missing: shop_worker; not in the target: none)",
      );
      expect(() =>
        buildSwarmOrder({
          ...orderInput,
          services: [...orderInput.services, { name: 'shop_other', image: newImage }],
        }),
      ).toThrow(
        "the order must name exactly the target's services (missing: none; not in the target: shop_other)",
      );
    });

    it('lists each contract violation, separated, in its refusal', () => {
      // Act / Assess
      expect(() =>
        buildSwarmOrder({
          ...orderInput,
          orderedAt: 'yesterday',
          services: orderInput.services.map((s) => ({ ...s, image: 'shop:latest' })),
        }),
      ).toThrow(/^the swarm order is invalid: [^;]+; [^;]+; [^;]+$/);
    });

    it('carries force when asked, for the forced rollback', () => {
      // Act
      const order = buildSwarmOrder({ ...orderInput, kind: 'rollback', force: true });

      // Assess
      expect(order.force).toBe(true);
      expect(order.deploymentId).toBe(swarmDeploymentId(executionArn, 'rollback', true));
    });

    it('refuses an image not pinned by digest', () => {
      // Act
      const build = () =>
        buildSwarmOrder({
          ...orderInput,
          services: target.services.map((s) => ({ name: s.name, image: 'shop:latest' })),
        });

      // Assess
      expect(build).toThrow(
        expect.objectContaining({
          name: 'InputInvalid',
          message: expect.stringContaining('services.0.image: registry/repository@sha256:<64 hex>'),
        }),
      );
    });
  });

  describe('signalSwarm (mocked clients)', () => {
    // mockClient replaces `send` on every client of the class: restored after each test, so the
    // emulator tests below reach the emulator.
    let ssm: AwsClientStub<SSMClient>;
    let sqs: AwsClientStub<SQSClient>;
    const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/123456789012/gantry-swarm-shop-prod';

    beforeEach(() => {
      ssm = mockClient(SSMClient);
      sqs = mockClient(SQSClient);
    });
    afterEach(() => {
      ssm.restore();
      sqs.restore();
    });

    it('writes the order as a String with Overwrite, then sends the wake-up to the URL SQS gave', async () => {
      // Prepare
      ssm.on(PutParameterCommand).resolves({ Version: 7 });
      sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: queueUrl });
      sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });

      // Act
      const signal = await signalSwarm(
        { ssm: new SSMClient({}), sqs: new SQSClient({}) },
        '/gantry',
        target.queueName,
        deployOrder,
      );

      // Assess
      expect(signal).toEqual({
        orderParameter: '/gantry/shop/prod/order',
        orderVersion: 7,
        messageId: 'm-1',
      });
      expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
        Name: '/gantry/shop/prod/order',
        Value: JSON.stringify(deployOrder),
        Type: 'String',
        Overwrite: true,
      });
      expect(ssm.commandCalls(PutParameterCommand)[0]?.args[0].input.Tier).toBeUndefined();
      expect(sqs).toHaveReceivedCommandWith(GetQueueUrlCommand, { QueueName: 'gantry-swarm-shop-prod' });
      expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: queueUrl });
    });

    it('fails with DeployFailed, writing no order, when the queue does not exist', async () => {
      // Prepare
      sqs.on(GetQueueUrlCommand).rejects(new QueueDoesNotExist({ message: 'no queue', $metadata: {} }));

      // Act
      const signalling = signalSwarm(
        { ssm: new SSMClient({}), sqs: new SQSClient({}) },
        '/gantry',
        'missing',
        deployOrder,
      );

      // Assess
      await expect(signalling).rejects.toMatchObject({
        name: 'DeployFailed',
        message: "the swarm's wake-up queue missing does not exist",
      });
      expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
    });

    it('asks for the advanced tier only when the order passes the standard 4 KB', async () => {
      // Prepare
      ssm.on(PutParameterCommand).resolves({ Version: 1 });
      sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: queueUrl });
      sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
      const names = Array.from({ length: 20 }, (_, i) => ({
        name: `shop_service_with_a_rather_long_name_${i}`,
      }));
      const big = buildSwarmOrder({
        ...orderInput,
        target: { ...target, services: names },
        services: names.map((s) => ({ name: s.name, image: newImage })),
      });

      // Act
      await signalSwarm({ ssm: new SSMClient({}), sqs: new SQSClient({}) }, '/gantry', target.queueName, big);

      // Assess
      expect(JSON.stringify(big).length).toBeGreaterThan(4_096);
      expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Tier: 'Advanced' });
    });
  });

  describe('signalSwarm: the tier boundary and the queue lookup (mocked clients)', () => {
    let ssm: AwsClientStub<SSMClient>;
    let sqs: AwsClientStub<SQSClient>;
    const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/123456789012/gantry-swarm-shop-prod';
    const clients = () => ({ ssm: new SSMClient({}), sqs: new SQSClient({}) });

    beforeEach(() => {
      ssm = mockClient(SSMClient);
      sqs = mockClient(SQSClient);
      ssm.on(PutParameterCommand).resolves({ Version: 1 });
      sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: queueUrl });
      sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    });
    afterEach(() => {
      ssm.restore();
      sqs.restore();
    });

    /** An order whose JSON is `bytes` long in UTF-8, grown through its execution ARN (`filler` each). */
    function orderOfBytes(bytes: number, filler = 'x') {
      const base = buildSwarmOrder({ ...orderInput, executionArn: `${executionArn}-` });
      const missing = bytes - Buffer.byteLength(JSON.stringify(base), 'utf8');
      const fill = filler.repeat(Math.floor(missing / Buffer.byteLength(filler, 'utf8')));
      const order = { ...base, executionArn: `${base.executionArn}${fill}` };
      expect(Buffer.byteLength(JSON.stringify(order), 'utf8')).toBe(bytes);
      return order;
    }

    it('keeps an order of exactly 4 096 bytes in the standard tier, and moves one of 4 097 to advanced', async () => {
      // Act
      await signalSwarm(clients(), '/gantry', target.queueName, orderOfBytes(4_096));
      await signalSwarm(clients(), '/gantry', target.queueName, orderOfBytes(4_097));

      // Assess
      const tiers = ssm.commandCalls(PutParameterCommand).map((call) => call.args[0].input.Tier);
      expect(tiers).toEqual([undefined, 'Advanced']);
    });

    it('counts bytes, not characters: a 4 098-byte order of fewer characters is advanced', async () => {
      // Prepare: 'é' is two bytes in UTF-8.
      const order = orderOfBytes(4_098, 'é');

      // Act
      await signalSwarm(clients(), '/gantry', target.queueName, order);

      // Assess
      expect(JSON.stringify(order).length).toBeLessThanOrEqual(4_096);
      expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Tier: 'Advanced' });
    });

    it('fails with DeployFailed, writing nothing, when SQS answers without a queue URL', async () => {
      // Prepare
      sqs.on(GetQueueUrlCommand).resolves({});

      // Act / Assess
      await expect(signalSwarm(clients(), '/gantry', target.queueName, deployOrder)).rejects.toMatchObject({
        name: 'DeployFailed',
      });
      expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
    });

    it('lets a throttled queue lookup be retried (TransientAwsError), writing nothing', async () => {
      // Prepare
      sqs
        .on(GetQueueUrlCommand)
        .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));

      // Act / Assess
      await expect(signalSwarm(clients(), '/gantry', target.queueName, deployOrder)).rejects.toMatchObject({
        name: 'TransientAwsError',
      });
      expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
    });

    it('names what it was doing when a call is throttled: finding the queue, writing the order, waking the agent', async () => {
      // Prepare
      const throttled = () =>
        Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
      const attempt = () => signalSwarm(clients(), '/gantry', target.queueName, deployOrder);

      // Act / Assess
      sqs.on(GetQueueUrlCommand).rejectsOnce(throttled()).resolves({ QueueUrl: queueUrl });
      await expect(attempt()).rejects.toThrow(`finding the queue ${target.queueName}`);
      ssm.on(PutParameterCommand).rejectsOnce(throttled()).resolves({ Version: 1 });
      await expect(attempt()).rejects.toThrow('writing the order /gantry/shop/prod/order');
      sqs.on(SendMessageCommand).rejectsOnce(throttled()).resolves({ MessageId: 'm-1' });
      await expect(attempt()).rejects.toThrow(`waking the swarm on ${target.queueName}`);
    });

    it('reports version 0 and no message id when the answers leave them out', async () => {
      // Prepare
      ssm.on(PutParameterCommand).resolves({});
      sqs.on(SendMessageCommand).resolves({});

      // Act
      const signal = await signalSwarm(clients(), '/gantry', target.queueName, deployOrder);

      // Assess
      expect(signal).toEqual({ orderParameter: '/gantry/shop/prod/order', orderVersion: 0, messageId: '' });
      expect(JSON.parse(String(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody))).toEqual({
        app: 'shop',
        env: 'prod',
        deploymentId: deployOrder.deploymentId,
      });
    });
  });

  describe('signalSwarm (against the sandbox emulator, a simulation)', () => {
    let emulator: Emulator;
    let ssm: SSMClient;
    let sqs: SQSClient;
    let queueUrl: string;

    beforeEach(async () => {
      emulator = await startEmulator();
      ssm = new SSMClient(emulator.clientConfig);
      sqs = new SQSClient(emulator.clientConfig);
      queueUrl = emulator.sqs.createQueue(target.queueName);
    });
    afterEach(async () => {
      ssm.destroy();
      sqs.destroy();
      await emulator.close();
    });

    it('leaves the order in Parameter Store and one wake-up in the queue', async () => {
      // Act
      const signal = await signalSwarm({ ssm, sqs }, '/gantry', target.queueName, deployOrder);

      // Assess
      const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/gantry/shop/prod/order' }));
      expect(JSON.parse(Parameter?.Value ?? '')).toEqual(deployOrder);
      expect(Parameter?.Version).toBe(signal.orderVersion);
      const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
      expect(Messages?.map((m) => JSON.parse(m.Body ?? ''))).toEqual([
        { app: 'shop', env: 'prod', deploymentId: deployOrder.deploymentId },
      ]);
    });

    it('writes the same order again when the step is retried', async () => {
      // Prepare
      await signalSwarm({ ssm, sqs }, '/gantry', target.queueName, deployOrder);
      const retried = buildSwarmOrder(orderInput);

      // Act
      await signalSwarm({ ssm, sqs }, '/gantry', target.queueName, retried);

      // Assess
      const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/gantry/shop/prod/order' }));
      expect(Parameter?.Value).toBe(JSON.stringify(deployOrder));
    });

    it('refuses a queue that does not exist, before the order is written', async () => {
      // Act
      const signalling = signalSwarm({ ssm, sqs }, '/gantry', 'gantry-swarm-other', deployOrder);

      // Assess
      await expect(signalling).rejects.toMatchObject({ name: 'DeployFailed' });
      await expect(
        ssm.send(new GetParameterCommand({ Name: '/gantry/shop/prod/order' })),
      ).rejects.toMatchObject({
        name: 'ParameterNotFound',
      });
    });
  });
});
