import { readFileSync } from 'node:fs';

export const deployDefinitionPath = new URL('../state-machines/deploy.asl.json', import.meta.url);

/** `${resolveConfig}`-style placeholders stand where a function's ARN goes (see serverless.yml). */
const placeholder = /^\$\{([A-Za-z0-9]+)\}$/;

/** Placeholders naming a stack resource, not a function (state-machines/definition.cjs maps the same). */
export const resourcePlaceholders = ['coordinationTable'] as const;
export type ResourcePlaceholder = (typeof resourcePlaceholders)[number];

export type AslDefinition = { States: Record<string, AslState>; [key: string]: unknown };
export type AslState = {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  [key: string]: unknown;
};

/** The function key a Task state runs, whether it calls it directly or through `lambda:invoke`. */
export function functionKeyOf(state: AslState): string | undefined {
  const target = state.Resource?.startsWith('arn:aws:states:::lambda:invoke')
    ? state.Parameters?.FunctionName
    : state.Resource;
  return typeof target === 'string' ? placeholder.exec(target)?.[1] : undefined;
}

/** The service integration a Task state calls directly (`dynamodb:deleteItem`…), if it is one. */
export function integrationOf(state: AslState): string | undefined {
  const match = /^arn:aws:states:::([a-z0-9-]+:[A-Za-z]+)$/.exec(state.Resource ?? '');
  return match?.[1]?.startsWith('lambda:') ? undefined : match?.[1];
}

/**
 * The deploy definition with every function placeholder replaced by `arnOf(functionKey)` and
 * every resource placeholder by its value in `resources`.
 */
export function loadDeployDefinition(
  arnOf: (functionKey: string) => string,
  resources: Record<ResourcePlaceholder, string>,
): AslDefinition {
  const text = readFileSync(deployDefinitionPath, 'utf8');
  return JSON.parse(text, (_key, value) => {
    if (typeof value !== 'string') return value;
    const match = placeholder.exec(value);
    if (!match?.[1]) return value;
    return (resources as Record<string, string>)[match[1]] ?? arnOf(match[1]);
  }) as AslDefinition;
}

/** The raw definition, placeholders kept: for tooling that maps states to functions. */
export function readDeployDefinition(): AslDefinition {
  return JSON.parse(readFileSync(deployDefinitionPath, 'utf8')) as AslDefinition;
}
