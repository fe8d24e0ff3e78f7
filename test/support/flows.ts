import { DescribeServicesCommand, DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import type { ExecutionDescription } from '../../sandbox/runner.ts';
import type { Sandbox } from '../../sandbox/sandbox.ts';

/** Executions whose input names this app (each flow test seeds an app of its own). */
export function executionsOf(sandbox: Sandbox, app: string): ExecutionDescription[] {
  return sandbox.stepFunctions
    .listExecutions()
    .filter((execution) => (JSON.parse(execution.input) as { app?: string }).app === app);
}

export function onlyExecutionOf(sandbox: Sandbox, app: string): ExecutionDescription {
  const executions = executionsOf(sandbox, app);
  if (executions.length !== 1)
    throw new Error(`expected one execution of ${app}, found ${executions.length}`);
  return executions[0] as ExecutionDescription;
}

/** AWS calls of one operation whose input mentions `needle` (an app's name, a digest…). */
export function callsFor(sandbox: Sandbox, operation: string, needle: string) {
  return sandbox.emulator.calls.filter(
    (call) => call.operation === operation && JSON.stringify(call.input).includes(needle),
  );
}

/** The service's current task definition, read through the real ECS client as Gantry reads it. */
export async function liveTaskDefinition(sandbox: Sandbox, cluster: string, service: string) {
  const ecs = new ECSClient(sandbox.emulator.clientConfig);
  const { services } = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  const { taskDefinition } = await ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: services?.[0]?.taskDefinition ?? '' }),
  );
  return taskDefinition;
}
