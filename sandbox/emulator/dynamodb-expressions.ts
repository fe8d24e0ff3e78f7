/**
 * DynamoDB expressions as Gantry writes them, really evaluated: condition and key-condition
 * expressions with `#names` and `:values`. Grammar and semantics from the DynamoDB Developer Guide,
 * "Condition and filter expressions, operators and functions"
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html)
 * and "Key condition expressions" (…/Query.KeyConditionExpressions.html). Anything outside the
 * subset Gantry uses (nested paths, size(), contains(), IN) is refused loudly, and so is a
 * reserved word named without a `#name` placeholder, as DynamoDB refuses it.
 */
import { reservedWords } from './dynamodb-reserved-words.ts';
import { AwsError, UnsupportedParameter } from './protocol.ts';

/** One DynamoDB attribute value, as the JSON protocol carries it. */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { M: Record<string, AttributeValue> }
  | { L: AttributeValue[] }
  | { SS: string[] }
  | { NS: string[] };
export type Item = Record<string, AttributeValue>;

/** What a request binds: the placeholders, and which of them the expressions used. */
export class Bindings {
  readonly usedNames = new Set<string>();
  readonly usedValues = new Set<string>();

  constructor(
    readonly names: Record<string, string>,
    readonly values: Record<string, AttributeValue>,
  ) {}

  name(token: string): string {
    const resolved = this.names[token];
    if (resolved === undefined) {
      throw validation(
        `Value provided in ExpressionAttributeNames unused in expressions: An expression attribute name used in the document path is not defined; attribute name: ${token}`,
      );
    }
    this.usedNames.add(token);
    return resolved;
  }

  value(token: string): AttributeValue {
    const resolved = this.values[token];
    if (resolved === undefined) {
      throw validation(
        `Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: ${token}`,
      );
    }
    this.usedValues.add(token);
    return resolved;
  }

  /** DynamoDB refuses a request that binds a name or value no expression uses. */
  checkAllUsed(): void {
    const unusedNames = Object.keys(this.names).filter((key) => !this.usedNames.has(key));
    if (unusedNames.length > 0) {
      throw validation(
        `Value provided in ExpressionAttributeNames unused in expressions: keys: {${unusedNames.join(', ')}}`,
      );
    }
    const unusedValues = Object.keys(this.values).filter((key) => !this.usedValues.has(key));
    if (unusedValues.length > 0) {
      throw validation(
        `Value provided in ExpressionAttributeValues unused in expressions: keys: {${unusedValues.join(', ')}}`,
      );
    }
  }
}

export function validation(message: string): AwsError {
  return new AwsError('ValidationException', message);
}

// ---- tokens -------------------------------------------------------------------------------

type Token =
  | { kind: 'name'; text: string }
  | { kind: 'placeholder'; text: string }
  | { kind: 'value'; text: string }
  | { kind: 'op'; text: string }
  | { kind: 'word'; text: string };

const keywords = new Set(['AND', 'OR', 'NOT', 'BETWEEN', 'IN']);

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s*(?:(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|(<>|<=|>=|[=<>(),.+\-[\]])|([A-Za-z_][A-Za-z0-9_]*))/y;
  let index = 0;
  while (index < expression.length) {
    if (/^\s*$/.test(expression.slice(index))) break;
    pattern.lastIndex = index;
    const match = pattern.exec(expression);
    if (!match)
      throw validation(`Invalid expression: syntax error near "${expression.slice(index, index + 10)}"`);
    index = pattern.lastIndex;
    if (match[1]) tokens.push({ kind: 'placeholder', text: match[1] });
    else if (match[2]) tokens.push({ kind: 'value', text: match[2] });
    else if (match[3]) tokens.push({ kind: 'op', text: match[3] });
    else if (match[4]) {
      const upper = match[4].toUpperCase();
      tokens.push(keywords.has(upper) ? { kind: 'word', text: upper } : { kind: 'name', text: match[4] });
    }
  }
  return tokens;
}

class Cursor {
  #at = 0;
  constructor(
    readonly tokens: Token[],
    readonly what: string,
  ) {}
  peek(): Token | undefined {
    return this.tokens[this.#at];
  }
  next(): Token {
    const token = this.tokens[this.#at++];
    if (!token) throw validation(`Invalid ${this.what}: unexpected end of expression`);
    return token;
  }
  isWord(text: string): boolean {
    const token = this.peek();
    return token?.kind === 'word' && token.text === text;
  }
  isOp(text: string): boolean {
    const token = this.peek();
    return token?.kind === 'op' && token.text === text;
  }
  expectOp(text: string): void {
    const token = this.next();
    if (token.kind !== 'op' || token.text !== text)
      throw validation(`Invalid ${this.what}: expected "${text}", found "${token.text}"`);
  }
  done(): boolean {
    return this.#at >= this.tokens.length;
  }
}

// ---- condition expressions ------------------------------------------------------------------

type Operand = { kind: 'path'; name: string } | { kind: 'value'; value: AttributeValue };
export type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'not'; operand: Condition }
  | { kind: 'compare'; op: string; left: Operand; right: Operand }
  | { kind: 'between'; subject: Operand; low: Operand; high: Operand }
  | { kind: 'exists' | 'not_exists'; name: string }
  | { kind: 'begins_with'; subject: Operand; prefix: Operand };

export function parseCondition(
  expression: string,
  bindings: Bindings,
  what = 'ConditionExpression',
): Condition {
  const cursor = new Cursor(tokenize(expression), what);
  const condition = parseOr(cursor, bindings);
  if (!cursor.done()) throw validation(`Invalid ${what}: unexpected "${cursor.peek()?.text}"`);
  return condition;
}

function parseOr(cursor: Cursor, bindings: Bindings): Condition {
  let left = parseAnd(cursor, bindings);
  while (cursor.isWord('OR')) {
    cursor.next();
    left = { kind: 'or', left, right: parseAnd(cursor, bindings) };
  }
  return left;
}

function parseAnd(cursor: Cursor, bindings: Bindings): Condition {
  let left = parseNot(cursor, bindings);
  while (cursor.isWord('AND')) {
    cursor.next();
    left = { kind: 'and', left, right: parseNot(cursor, bindings) };
  }
  return left;
}

function parseNot(cursor: Cursor, bindings: Bindings): Condition {
  if (cursor.isWord('NOT')) {
    cursor.next();
    return { kind: 'not', operand: parseNot(cursor, bindings) };
  }
  return parsePrimary(cursor, bindings);
}

function parsePrimary(cursor: Cursor, bindings: Bindings): Condition {
  if (cursor.isOp('(')) {
    cursor.next();
    const inner = parseOr(cursor, bindings);
    cursor.expectOp(')');
    return inner;
  }
  const token = cursor.peek();
  if (token?.kind === 'name' && cursor.tokens[cursor.tokens.indexOf(token) + 1]?.text === '(') {
    return parseFunction(cursor, bindings);
  }
  const left = parseOperand(cursor, bindings);
  if (cursor.isWord('BETWEEN')) {
    cursor.next();
    const low = parseOperand(cursor, bindings);
    if (!cursor.isWord('AND')) throw validation(`Invalid ${cursor.what}: BETWEEN needs AND`);
    cursor.next();
    return { kind: 'between', subject: left, low, high: parseOperand(cursor, bindings) };
  }
  if (cursor.isWord('IN'))
    throw new UnsupportedParameter(`${cursor.what}: IN is not emulated by the Gantry sandbox`);
  const op = cursor.next();
  if (op.kind !== 'op' || !['=', '<>', '<', '<=', '>', '>='].includes(op.text)) {
    throw validation(`Invalid ${cursor.what}: expected a comparator, found "${op.text}"`);
  }
  return { kind: 'compare', op: op.text, left, right: parseOperand(cursor, bindings) };
}

function parseFunction(cursor: Cursor, bindings: Bindings): Condition {
  const name = cursor.next().text;
  cursor.expectOp('(');
  let condition: Condition;
  switch (name) {
    case 'attribute_exists':
    case 'attribute_not_exists': {
      const path = parsePath(cursor, bindings);
      condition = { kind: name === 'attribute_exists' ? 'exists' : 'not_exists', name: path };
      break;
    }
    case 'begins_with': {
      const subject = parseOperand(cursor, bindings);
      cursor.expectOp(',');
      condition = { kind: 'begins_with', subject, prefix: parseOperand(cursor, bindings) };
      break;
    }
    default:
      throw new UnsupportedParameter(
        `${cursor.what}: function ${name}() is not emulated by the Gantry sandbox`,
      );
  }
  cursor.expectOp(')');
  return condition;
}

function parseOperand(cursor: Cursor, bindings: Bindings): Operand {
  const token = cursor.peek();
  if (token?.kind === 'value') {
    cursor.next();
    return { kind: 'value', value: bindings.value(token.text) };
  }
  return { kind: 'path', name: parsePath(cursor, bindings) };
}

function parsePath(cursor: Cursor, bindings: Bindings): string {
  const token = cursor.next();
  let name: string;
  if (token.kind === 'placeholder') name = bindings.name(token.text);
  else if (token.kind === 'name') {
    if (reservedWords.has(token.text.toUpperCase())) {
      throw validation(
        `Invalid ${cursor.what}: Attribute name is a reserved keyword; reserved keyword: ${token.text}`,
      );
    }
    name = token.text;
  } else throw validation(`Invalid ${cursor.what}: expected an attribute, found "${token.text}"`);
  if (cursor.isOp('.') || cursor.isOp('[')) {
    throw new UnsupportedParameter(
      `${cursor.what}: nested document paths are not emulated by the Gantry sandbox`,
    );
  }
  return name;
}

export function evaluate(condition: Condition, item: Item | undefined): boolean {
  switch (condition.kind) {
    case 'and':
      return evaluate(condition.left, item) && evaluate(condition.right, item);
    case 'or':
      return evaluate(condition.left, item) || evaluate(condition.right, item);
    case 'not':
      return !evaluate(condition.operand, item);
    case 'exists':
      return item?.[condition.name] !== undefined;
    case 'not_exists':
      return item?.[condition.name] === undefined;
    case 'begins_with': {
      const subject = resolve(condition.subject, item);
      const prefix = resolve(condition.prefix, item);
      return (
        subject !== undefined &&
        prefix !== undefined &&
        'S' in subject &&
        'S' in prefix &&
        subject.S.startsWith(prefix.S)
      );
    }
    case 'between': {
      const subject = resolve(condition.subject, item);
      return (
        compare('>=', subject, resolve(condition.low, item)) &&
        compare('<=', subject, resolve(condition.high, item))
      );
    }
    case 'compare':
      return compare(condition.op, resolve(condition.left, item), resolve(condition.right, item));
  }
}

function resolve(operand: Operand, item: Item | undefined): AttributeValue | undefined {
  return operand.kind === 'value' ? operand.value : item?.[operand.name];
}

/**
 * A comparison with a missing attribute is false; `=`/`<>` compare any two values by type and
 * content, the ordering operators only strings (by code unit, as UTF-8 bytes order ASCII keys)
 * and numbers (numerically) of the same type.
 */
function compare(op: string, left: AttributeValue | undefined, right: AttributeValue | undefined): boolean {
  if (left === undefined || right === undefined) return false;
  if (op === '=') return sameValue(left, right);
  if (op === '<>') return !sameValue(left, right);
  const order = ordering(left, right);
  if (order === undefined) return false;
  switch (op) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    default:
      return order >= 0;
  }
}

export function ordering(left: AttributeValue, right: AttributeValue): number | undefined {
  if ('N' in left && 'N' in right) return Math.sign(Number(left.N) - Number(right.N));
  if ('S' in left && 'S' in right) return Buffer.compare(Buffer.from(left.S), Buffer.from(right.S));
  return undefined;
}

function sameValue(left: AttributeValue, right: AttributeValue): boolean {
  if ('N' in left && 'N' in right) return Number(left.N) === Number(right.N);
  return JSON.stringify(left) === JSON.stringify(right);
}

// ---- key conditions -------------------------------------------------------------------------

export interface KeyCondition {
  partition: AttributeValue;
  sort?: Condition;
}

/** `pk = :v` optionally `AND` one condition on the sort key: the only shapes Query takes. */
export function parseKeyCondition(
  expression: string,
  bindings: Bindings,
  keys: { partitionKey: string; sortKey?: string | undefined },
): KeyCondition {
  const condition = parseCondition(expression, bindings, 'KeyConditionExpression');
  const parts = condition.kind === 'and' ? [condition.left, condition.right] : [condition];
  const isPartition = (part: Condition) =>
    part.kind === 'compare' &&
    part.op === '=' &&
    part.left.kind === 'path' &&
    part.left.name === keys.partitionKey &&
    part.right.kind === 'value';
  const partition = parts.find(isPartition);
  const sort = parts.find((part) => part !== partition);
  if (partition?.kind !== 'compare' || partition.right.kind !== 'value') {
    throw validation(`Query condition missed key schema element: ${keys.partitionKey}`);
  }
  if (sort) {
    const subject =
      sort.kind === 'compare'
        ? sort.left
        : sort.kind === 'begins_with' || sort.kind === 'between'
          ? sort.subject
          : undefined;
    if (
      subject?.kind !== 'path' ||
      subject.name !== keys.sortKey ||
      (sort.kind === 'compare' && sort.op === '<>') ||
      (sort.kind !== 'compare' && sort.kind !== 'begins_with' && sort.kind !== 'between')
    ) {
      throw validation('Query key condition not supported');
    }
  }
  return { partition: partition.right.value, ...(sort && { sort }) };
}
