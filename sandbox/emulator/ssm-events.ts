import type { EventHub } from './events.ts';
import type { Params, ServiceDefinition } from './protocol.ts';

/**
 * Parameter Store's own EventBridge events, added around the emulated SSM operations that cause
 * them: `Parameter Store Change` (source `aws.ssm`) with `operation` Create, Update or Delete, the
 * parameter's `name`, `type` and `description` (AWS Systems Manager User Guide, "Amazon EventBridge
 * event examples for Systems Manager", Parameter Store events:
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/monitoring-systems-manager-event-examples.html).
 * AWS also reports LabelParameterVersion, which Gantry does not act on, and emits all of them on a
 * best-effort basis ("Setting up notifications or trigger actions based on Parameter Store events",
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-cwe.html): a
 * test drops them with `events.dropWhen`. Seeding through `SsmState.put` emits nothing, as a
 * parameter that existed before the rule did.
 */
export function withParameterStoreEvents(
  service: ServiceDefinition,
  hub: Pick<EventHub, 'emit'>,
  arnOf: (name: string) => string,
): ServiceDefinition {
  const emitting = (
    operation: string,
    change: (p: Params, result: unknown) => 'Create' | 'Update' | 'Delete',
  ) => {
    const inner = service.operations[operation];
    if (inner === undefined) throw new Error(`ssm has no ${operation} to add events to`);
    return {
      keys: inner.keys,
      handle: (p: Params) => {
        const result = inner.handle(p);
        const name = p.requiredString('Name');
        hub.emit({
          source: 'aws.ssm',
          detailType: 'Parameter Store Change',
          detail: {
            operation: change(p, result),
            name,
            type: p.string('Type') ?? 'String',
            ...(p.string('Description') !== undefined && { description: p.string('Description') }),
          },
          resources: [arnOf(name)],
        });
        return result;
      },
    };
  };
  return {
    ...service,
    operations: {
      ...service.operations,
      PutParameter: emitting('PutParameter', (_p, result) =>
        (result as { Version?: number }).Version === 1 ? 'Create' : 'Update',
      ),
      DeleteParameter: emitting('DeleteParameter', () => 'Delete'),
    },
  };
}
