import { ECSClient, RegisterTaskDefinitionCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { liveTaskDefinition } from './flows.ts';

/**
 * A change behind Gantry's back: a hand-made revision of the service's task definition (container
 * `app` running `image`, or the same image when none is given) rolled out with UpdateService,
 * called with no Gantry role. Returns the new revision's ARN.
 */
export async function driftBehindGantry(sandbox: Sandbox, app: string, image?: string): Promise<string> {
  const ecs = new ECSClient(sandbox.emulator.clientConfig);
  const current = await liveTaskDefinition(sandbox, 'prod', app);
  const { taskDefinition } = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: current?.family ?? '',
      containerDefinitions: (current?.containerDefinitions ?? []).map((container) =>
        container.name === 'app' && image !== undefined ? { ...container, image } : container,
      ),
      ...(current?.networkMode && { networkMode: current.networkMode }),
      ...(current?.requiresCompatibilities && { requiresCompatibilities: current.requiresCompatibilities }),
      ...(current?.cpu && { cpu: current.cpu }),
      ...(current?.memory && { memory: current.memory }),
      ...(current?.executionRoleArn && { executionRoleArn: current.executionRoleArn }),
    }),
  );
  const revision = taskDefinition?.taskDefinitionArn ?? '';
  await ecs.send(new UpdateServiceCommand({ cluster: 'prod', service: app, taskDefinition: revision }));
  return revision;
}
