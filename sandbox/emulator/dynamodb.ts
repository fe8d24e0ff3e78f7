/**
 * DynamoDB as Gantry uses it (a SIMULATION): one on-demand table per `createTable`, and exactly the
 * calls Gantry makes: GetItem, PutItem, DeleteItem, Query (anything else answers UnsupportedOperation). Condition, key-condition
 * expressions are really evaluated (see dynamodb-expressions.ts); a failed condition
 * answers `ConditionalCheckFailedException` as DynamoDB does. TTL is declared but never expires
 * an item here: DynamoDB itself deletes expired items only "within a few days"
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html), so code
 * must never rely on it for correctness. Request shapes: the SDK model
 * (node_modules/@aws-sdk/client-dynamodb/dist-types/models/models_0.d.ts).
 */
import {
  type AttributeValue,
  Bindings,
  type Condition,
  evaluate,
  type Item,
  ordering,
  parseCondition,
  parseKeyCondition,
  validation,
} from './dynamodb-expressions.ts';
import {
  AwsError,
  isObject,
  type Json,
  type JsonObject,
  type Params,
  REDACTED,
  type ServiceDefinition,
  UnsupportedParameter,
} from './protocol.ts';

export type { AttributeValue, Item } from './dynamodb-expressions.ts';

export interface TableDefinition {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** The TTL attribute (epoch seconds): recorded, never acted on (see above). */
  readonly ttlAttribute?: string;
}

interface Table extends TableDefinition {
  readonly items: Map<string, Item>;
  /**
   * The same items by partition (the partition key's value as JSON): Query reads one partition,
   * and scanning every item per Query made a fleet-size run quadratic in the table's size.
   */
  readonly partitions: Map<string, Map<string, Item>>;
}

const partitionOf = (table: Table, item: Item) => JSON.stringify(item[table.partitionKey]);

function storeItem(table: Table, key: string, item: Item): void {
  table.items.set(key, item);
  const partition = partitionOf(table, item);
  const items = table.partitions.get(partition) ?? new Map<string, Item>();
  table.partitions.set(partition, items);
  items.set(key, item);
}

function removeItem(table: Table, key: string): void {
  const item = table.items.get(key);
  if (item === undefined) return;
  table.items.delete(key);
  const partition = partitionOf(table, item);
  table.partitions.get(partition)?.delete(key);
  if (table.partitions.get(partition)?.size === 0) table.partitions.delete(partition);
}

const attributeTypes = new Set(['S', 'N', 'BOOL', 'NULL', 'M', 'L', 'SS', 'NS']);
/** DynamoDB's item size limit (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html). */
const maxItemBytes = 400 * 1024;

export class DynamoDbState {
  readonly #tables = new Map<string, Table>();
  readonly #region: string;
  readonly #account: string;

  constructor(region: string, account: string) {
    this.#region = region;
    this.#account = account;
  }

  /** Creates a table without going through HTTP (the stack creates it on AWS). */
  createTable(definition: TableDefinition): { tableArn: string } {
    if (this.#tables.has(definition.name)) throw new Error(`table ${definition.name} already exists`);
    this.#tables.set(definition.name, { ...definition, items: new Map(), partitions: new Map() });
    return { tableArn: this.tableArn(definition.name) };
  }

  tableArn(name: string): string {
    return `arn:aws:dynamodb:${this.#region}:${this.#account}:table/${name}`;
  }

  /** Every item of a table, in key order: for assertions. */
  items(tableName: string): Item[] {
    return [...this.#table(tableName).items.values()];
  }

  /** One item by key, or undefined: for assertions. */
  getItem(tableName: string, key: Item): Item | undefined {
    const table = this.#table(tableName);
    return table.items.get(this.#keyOf(table, key));
  }

  /** Writes an item without conditions: for seeding. */
  putItem(tableName: string, item: Item): void {
    const table = this.#table(tableName);
    storeItem(table, this.#keyOf(table, item, { partial: true }), structuredClone(item));
  }

  #table(name: string): Table {
    const table = this.#tables.get(name);
    if (!table) throw new AwsError('ResourceNotFoundException', 'Requested resource not found');
    return table;
  }

  /** The map key of an item; a request key must name exactly the key attributes, typed S or N. */
  #keyOf(table: Table, key: Item, options: { partial?: boolean } = {}): string {
    const names = [table.partitionKey, ...(table.sortKey ? [table.sortKey] : [])];
    if (!options.partial && Object.keys(key).length !== names.length) {
      throw validation('The provided key element does not match the schema');
    }
    return JSON.stringify(
      names.map((name) => {
        const value = key[name];
        if (!value || !('S' in value || 'N' in value)) {
          throw validation('The provided key element does not match the schema');
        }
        if ('S' in value && value.S === '') {
          throw validation(
            `One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: ${name}`,
          );
        }
        return value;
      }),
    );
  }

  #bindings(p: Params): Bindings {
    const names = p.raw.ExpressionAttributeNames;
    const values = p.raw.ExpressionAttributeValues;
    if (
      names !== undefined &&
      (!isObject(names) || Object.values(names).some((name) => typeof name !== 'string'))
    ) {
      throw p.invalid("'ExpressionAttributeNames' must map placeholders to names");
    }
    if (names !== undefined && Object.keys(names).length === 0) {
      throw validation('ExpressionAttributeNames must not be empty');
    }
    if (values !== undefined && Object.keys(values ?? {}).length === 0) {
      throw validation('ExpressionAttributeValues must not be empty');
    }
    return new Bindings(
      (names ?? {}) as Record<string, string>,
      values === undefined ? {} : attributeMap(values, 'ExpressionAttributeValues'),
    );
  }

  /**
   * Parses the request's condition and checks every placeholder is used, before looking at the
   * item: a malformed request is a ValidationException whatever the item holds.
   */
  #condition(p: Params, bindings: Bindings): Condition | undefined {
    const expression = p.string('ConditionExpression');
    const condition = expression === undefined ? undefined : parseCondition(expression, bindings);
    bindings.checkAllUsed();
    return condition;
  }

  #checkCondition(condition: Condition | undefined, current: Item | undefined): void {
    if (condition !== undefined && !evaluate(condition, current)) {
      throw new AwsError('ConditionalCheckFailedException', 'The conditional request failed');
    }
  }

  /** PutItem and DeleteItem take NONE or ALL_OLD (API reference, PutItem "ReturnValues"). */
  #returnValues(p: Params): 'NONE' | 'ALL_OLD' {
    const requested = p.string('ReturnValues') ?? 'NONE';
    if (requested === 'NONE' || requested === 'ALL_OLD') return requested;
    throw validation('Return values set to invalid value');
  }

  service(): ServiceDefinition {
    const common = [
      'TableName',
      'ConditionExpression',
      'ExpressionAttributeNames',
      'ExpressionAttributeValues',
      'ReturnValues',
    ];
    return {
      name: 'dynamodb',
      targetPrefix: 'DynamoDB_20120810',
      validationError: 'ValidationException',
      // Items hold parked task tokens: the call log never keeps one.
      redact: (_operation, input) => redactTokens(input) as JsonObject,
      operations: {
        GetItem: {
          keys: ['TableName', 'Key', 'ConsistentRead'],
          handle: (p: Params) => {
            const table = this.#table(p.requiredString('TableName'));
            const item = table.items.get(this.#keyOf(table, attributeMap(p.raw.Key, 'Key')));
            return item ? { Item: structuredClone(item) } : {};
          },
        },
        PutItem: {
          keys: [...common, 'Item'],
          handle: (p: Params) => {
            const table = this.#table(p.requiredString('TableName'));
            const item = attributeMap(p.raw.Item, 'Item');
            const key = this.#keyOf(table, item, { partial: true });
            if (Buffer.byteLength(JSON.stringify(item)) > maxItemBytes) {
              throw validation('Item size has exceeded the maximum allowed size');
            }
            const bindings = this.#bindings(p);
            const returnValues = this.#returnValues(p);
            const condition = this.#condition(p, bindings);
            const current = table.items.get(key);
            this.#checkCondition(condition, current);
            storeItem(table, key, item);
            return returnValues === 'ALL_OLD' && current ? { Attributes: current } : {};
          },
        },
        DeleteItem: {
          keys: [...common, 'Key'],
          handle: (p: Params) => {
            const table = this.#table(p.requiredString('TableName'));
            const key = this.#keyOf(table, attributeMap(p.raw.Key, 'Key'));
            const bindings = this.#bindings(p);
            const returnValues = this.#returnValues(p);
            const condition = this.#condition(p, bindings);
            const current = table.items.get(key);
            this.#checkCondition(condition, current);
            removeItem(table, key);
            return returnValues === 'ALL_OLD' && current ? { Attributes: current } : {};
          },
        },
        Query: {
          keys: [
            'TableName',
            'KeyConditionExpression',
            'ExpressionAttributeNames',
            'ExpressionAttributeValues',
            'ScanIndexForward',
            'Limit',
            'ExclusiveStartKey',
            'ConsistentRead',
          ],
          handle: (p: Params) => this.#query(p),
        },
      },
    };
  }

  #query(p: Params): JsonObject {
    const table = this.#table(p.requiredString('TableName'));
    const bindings = this.#bindings(p);
    const condition = parseKeyCondition(p.requiredString('KeyConditionExpression'), bindings, table);
    bindings.checkAllUsed();
    const limit = p.number('Limit');
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw validation(
        "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
      );
    }
    const sortKey = table.sortKey;
    let matches = [...(table.partitions.get(JSON.stringify(condition.partition))?.values() ?? [])]
      .filter((item) => !condition.sort || evaluate(condition.sort, item))
      .sort((a, b) =>
        sortKey ? (ordering(a[sortKey] as AttributeValue, b[sortKey] as AttributeValue) ?? 0) : 0,
      );
    if (p.boolean('ScanIndexForward') === false) matches.reverse();
    const start = p.raw.ExclusiveStartKey;
    if (start !== undefined) {
      const startKey = this.#keyOf(table, attributeMap(start, 'ExclusiveStartKey'));
      const index = matches.findIndex((item) => this.#keyOf(table, item, { partial: true }) === startKey);
      matches = index < 0 ? [] : matches.slice(index + 1);
    }
    const page = limit === undefined ? matches : matches.slice(0, limit);
    const last = page.at(-1);
    const more = limit !== undefined && matches.length >= limit && last !== undefined;
    return {
      Items: structuredClone(page) as unknown as Json[],
      Count: page.length,
      ScannedCount: page.length,
      ...(more && {
        LastEvaluatedKey: Object.fromEntries(
          [table.partitionKey, ...(sortKey ? [sortKey] : [])].map((name) => [
            name,
            last[name] as unknown as Json,
          ]),
        ),
      }),
    };
  }
}

/** Validates a map of attribute values: each value has exactly one known type. */
function attributeMap(value: unknown, where: string): Item {
  if (!isObject(value)) throw validation(`${where} must be a map of attribute values`);
  for (const [name, attribute] of Object.entries(value)) {
    if (!isObject(attribute) || Object.keys(attribute).length !== 1) {
      throw validation(
        `Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes (${where}.${name})`,
      );
    }
    const type = Object.keys(attribute)[0] as string;
    if (!attributeTypes.has(type)) {
      throw new UnsupportedParameter(
        `${where}.${name}: attribute type ${type} is not emulated by the Gantry sandbox`,
      );
    }
    if (type === 'N' && (typeof attribute.N !== 'string' || !Number.isFinite(Number(attribute.N)))) {
      throw validation(`The parameter cannot be converted to a numeric value: ${String(attribute.N)}`);
    }
  }
  return value as unknown as Item;
}

function redactTokens(value: Json): Json {
  if (Array.isArray(value)) return value.map(redactTokens);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, /token/i.test(key) ? REDACTED : redactTokens(inner)]),
  );
}
