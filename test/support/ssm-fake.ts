import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersCommand,
  LabelParameterVersionCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * A Map-backed SSMClient mock for unit tests: enough Parameter Store semantics (versions,
 * conditional create, not-found errors) that lock and record logic can be tested without
 * scripting every call. Whole flows use the sandbox emulator instead.
 */
export function fakeParameterStore() {
  const parameters = new Map<string, { value: string; version: number; type: string; labels: string[] }>();
  const mock = mockClient(SSMClient);
  const notFound = (name: string) => new ParameterNotFound({ message: `${name} not found`, $metadata: {} });
  mock.on(GetParameterCommand).callsFake(({ Name }) => {
    const stored = parameters.get(Name);
    if (!stored) throw notFound(Name);
    return { Parameter: { Name, Value: stored.value, Version: stored.version, Type: stored.type } };
  });
  mock.on(GetParametersCommand).callsFake(({ Names }: { Names: string[] }) => {
    const found = [...new Set(Names)].filter((name) => parameters.has(name)).sort();
    return {
      Parameters: found.map((Name) => {
        const stored = parameters.get(Name);
        return { Name, Value: stored?.value, Version: stored?.version, Type: stored?.type };
      }),
      InvalidParameters: Names.filter((name) => !found.includes(name)),
    };
  });
  mock.on(PutParameterCommand).callsFake(({ Name, Value, Overwrite, Type }) => {
    const stored = parameters.get(Name);
    if (stored && !Overwrite) {
      throw new ParameterAlreadyExists({ message: `${Name} exists`, $metadata: {} });
    }
    const version = (stored?.version ?? 0) + 1;
    parameters.set(Name, { value: Value, version, type: Type ?? 'String', labels: [] });
    return { Version: version };
  });
  mock.on(DeleteParameterCommand).callsFake(({ Name }) => {
    if (!parameters.delete(Name)) throw notFound(Name);
    return {};
  });
  const label = () =>
    mock.on(LabelParameterVersionCommand).callsFake(({ Name, ParameterVersion, Labels }) => {
      const stored = parameters.get(Name);
      if (!stored || stored.version !== ParameterVersion) throw notFound(Name);
      // A label sits on one version at a time: labelling again is a no-op.
      stored.labels = [...new Set([...stored.labels, ...(Labels ?? [])])];
      return { ParameterVersion, InvalidLabels: [] };
    });
  label();
  return {
    mock,
    /** Restores the label behaviour after a test overrode it. */
    relabel: label,
    client: new SSMClient({ region: 'eu-west-1' }),
    parameters,
    put(name: string, value: unknown) {
      const version = (parameters.get(name)?.version ?? 0) + 1;
      parameters.set(name, {
        value: typeof value === 'string' ? value : JSON.stringify(value),
        version,
        type: 'String',
        labels: [],
      });
    },
    /** Every config under `prefix`, as Powertools' getMultiple returns them (relative names). */
    configsUnder(prefix: string): Record<string, string> {
      return Object.fromEntries(
        [...parameters]
          .filter(([name]) => name.startsWith(`${prefix}/`) && name.endsWith('/config'))
          .map(([name, { value }]) => [name.slice(prefix.length + 1), value]),
      );
    },
    json(name: string): unknown {
      const stored = parameters.get(name);
      return stored ? JSON.parse(stored.value) : undefined;
    },
  };
}
