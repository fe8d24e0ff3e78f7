import { readFileSync } from 'node:fs';

export const deployDefinitionPath = new URL('../state-machines/deploy.asl.json', import.meta.url);

/** `${resolveConfig}`-style placeholders stand where a function's ARN goes (see serverless.yml). */
const placeholder = /^\$\{([A-Za-z0-9]+)\}$/;

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

/** The deploy definition with every placeholder replaced by `arnOf(functionKey)`. */
export function loadDeployDefinition(arnOf: (functionKey: string) => string): AslDefinition {
  const text = readFileSync(deployDefinitionPath, 'utf8');
  return JSON.parse(text, (_key, value) => {
    if (typeof value !== 'string') return value;
    const match = placeholder.exec(value);
    return match?.[1] ? arnOf(match[1]) : value;
  }) as AslDefinition;
}

/** The raw definition, placeholders kept: for tooling that maps states to functions. */
export function readDeployDefinition(): AslDefinition {
  return JSON.parse(readFileSync(deployDefinitionPath, 'utf8')) as AslDefinition;
}
