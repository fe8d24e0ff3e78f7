import { alarmIndexPartition, type IndexPartition, repositoryIndexPartition } from './index-table.ts';

/**
 * An index of the configs: its partition, and the keys a config names in it. Keys are read from the
 * config's JSON whether or not the config is valid, so an invalid config is still found (and
 * reported) by the event that concerns it.
 */
export interface ConfigIndex extends IndexPartition {
  /** The keys `config` (a parsed config's JSON, valid or not) names in this index, each once. */
  keysNamedBy(config: unknown): string[];
}

/**
 * A DynamoDB sort key holds at most 1,024 bytes (DynamoDB developer guide, "Constraints in Amazon
 * DynamoDB", Partition keys and sort keys:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html). A longer name
 * cannot be a repository or an alarm any event names (ECR and CloudWatch cap theirs far lower), and
 * writing it would fail the whole change or rebuild with a ValidationException: it is not indexed.
 */
const maxSortKeyBytes = 1024;

const indexable = (key: unknown): key is string =>
  typeof key === 'string' && key !== '' && Buffer.byteLength(key) <= maxSortKeyBytes;

const fieldsOf = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

const stringsIn = (value: unknown): string[] => (Array.isArray(value) ? value.filter(indexable) : []);

/** Which app/environments track an ECR repository (`repository`): a push reads it. */
export const repositoryIndex: ConfigIndex = {
  ...repositoryIndexPartition,
  keysNamedBy: (config) => {
    const { repository } = fieldsOf(config);
    return indexable(repository) ? [repository] : [];
  },
};

/**
 * Which app/environments name a CloudWatch alarm (`rollbackAlarms`, and `gates.alarms`: a gate
 * alarm in ALARM during bake rolls back too): an alarm going to ALARM reads it.
 */
export const alarmIndex: ConfigIndex = {
  ...alarmIndexPartition,
  keysNamedBy: (config) => {
    const { rollbackAlarms, gates } = fieldsOf(config);
    return [...new Set([...stringsIn(rollbackAlarms), ...stringsIn(fieldsOf(gates).alarms)])];
  },
};
