/**
 * DynamoDB update and condition expressions as typed values: every attribute name and value goes
 * through a placeholder (`#n0`, `:v0`) the builder numbers itself, so no call site concatenates or
 * slices expression text, an attribute whose name is a reserved word (`day`, `status`) or holds `#`
 * needs no care, and the names and values maps always match the expression (DynamoDB rejects an
 * unused placeholder).
 *
 * Rules from "Using update expressions in DynamoDB"
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html,
 * read 2026-12-07): each of SET, REMOVE, ADD, DELETE may appear once, in any order; every action
 * reads the item as it was before the update. An attribute named in two actions is refused by
 * DynamoDB ("Two document paths overlap"), so `update` refuses it too, before the call, as it
 * refuses a nested path beside its parent. A name is one attribute (a `.` in it is part of the
 * name); a nested path is a list of names (`setPaths`). Only compound members of an AND / OR are
 * parenthesized: DynamoDB refuses "redundant parentheses" (`((a = :v))`).
 *
 * Why not a library: `@aws/dynamodb-expressions` (0.7.3, last published 2019, its repository
 * archived) marshals values into low-level AttributeValues itself, which the lib-dynamodb document
 * client would marshal again.
 */

/** Marks the operands this module built, so that a stored value that happens to look like one stays a value. */
const OPERAND: unique symbol = Symbol('operand');

/** An operand: an attribute of the item, a value, its size, if_not_exists, or a difference of operands. */
export type Operand = { readonly [OPERAND]: true } & (
  | { readonly kind: 'attr'; readonly name: string }
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'ifNotExists'; readonly name: string; readonly fallback: Operand }
  | { readonly kind: 'size'; readonly name: string }
  | { readonly kind: 'math'; readonly op: '-'; readonly left: Operand; readonly right: Operand }
);

export type Comparator = '=' | '<>' | '<' | '<=' | '>' | '>=';

/** A condition: comparisons, existence checks, `IN`, `contains`, and their AND / OR / NOT. */
export type Condition =
  | {
      readonly kind: 'compare';
      readonly op: Comparator;
      readonly left: Operand;
      readonly right: Operand;
    }
  | { readonly kind: 'exists' | 'notExists'; readonly name: string }
  | { readonly kind: 'in'; readonly name: string; readonly values: readonly unknown[] }
  | { readonly kind: 'contains'; readonly name: string; readonly value: unknown }
  | { readonly kind: 'and' | 'or'; readonly conditions: readonly Condition[] }
  | { readonly kind: 'not'; readonly condition: Condition };

export const attr = (name: string): Operand => ({ [OPERAND]: true, kind: 'attr', name });
export const value = (v: unknown): Operand => ({ [OPERAND]: true, kind: 'value', value: v });
export const ifNotExists = (name: string, fallback: Operand): Operand => ({
  [OPERAND]: true,
  kind: 'ifNotExists',
  name,
  fallback,
});
/** The size of an attribute (a set's members, a string's characters). */
export const size = (name: string): Operand => ({ [OPERAND]: true, kind: 'size', name });
export const minus = (left: Operand, right: Operand): Operand => ({
  [OPERAND]: true,
  kind: 'math',
  op: '-',
  left,
  right,
});

/** `left op right`: a name on the left is an attribute; a bare value on the right is a value, never an attribute. */
export const compare = (
  left: string | Operand,
  op: Comparator,
  right: Operand | number | string | boolean,
): Condition => ({
  kind: 'compare',
  op,
  left: typeof left === 'string' ? attr(left) : left,
  right: typeof right === 'object' ? right : value(right),
});
export const exists = (name: string): Condition => ({ kind: 'exists', name });
export const notExists = (name: string): Condition => ({ kind: 'notExists', name });
export const isIn = (name: string, values: readonly unknown[]): Condition => ({
  kind: 'in',
  name,
  values,
});
export const contains = (name: string, v: unknown): Condition => ({
  kind: 'contains',
  name,
  value: v,
});
export const and = (...conditions: Condition[]): Condition => ({ kind: 'and', conditions });
export const or = (...conditions: Condition[]): Condition => ({ kind: 'or', conditions });
export const not = (condition: Condition): Condition => ({ kind: 'not', condition });

/** What an UpdateItem changes: attributes to set, numbers (or sets) to add to, attributes to remove. */
export interface UpdateActions {
  /** A bare value is a value; an {@link Operand} (attr, ifNotExists, minus) is computed from the item. */
  set?: Record<string, unknown>;
  /** Values set at nested paths (`times.completed`: `[['times', 'completed'], at]`), each segment a name. */
  setPaths?: readonly (readonly [path: readonly string[], value: unknown])[];
  add?: Record<string, number | Set<string>>;
  /** Members to take out of string sets. */
  delete?: Record<string, Set<string>>;
  remove?: readonly string[];
}

/** The expression fields of a command, ready to spread into it (no empty names or values map). */
export interface ExpressionFields {
  UpdateExpression?: string;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

class Placeholders {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private readonly byName = new Map<string, string>();
  private valueCount = 0;

  name(attribute: string): string {
    if (attribute === '') throw new RangeError('an attribute name must not be empty');
    let placeholder = this.byName.get(attribute);
    if (placeholder === undefined) {
      placeholder = `#n${this.byName.size}`;
      this.byName.set(attribute, placeholder);
      this.names[placeholder] = attribute;
    }
    return placeholder;
  }

  value(v: unknown): string {
    const placeholder = `:v${this.valueCount++}`;
    this.values[placeholder] = v;
    return placeholder;
  }

  operand(o: Operand): string {
    switch (o.kind) {
      case 'attr':
        return this.name(o.name);
      case 'value':
        return this.value(o.value);
      case 'ifNotExists':
        return `if_not_exists(${this.name(o.name)}, ${this.operand(o.fallback)})`;
      case 'size':
        return `size(${this.name(o.name)})`;
      case 'math':
        return `${this.operand(o.left)} ${o.op} ${this.operand(o.right)}`;
    }
  }

  condition(c: Condition): string {
    switch (c.kind) {
      case 'compare':
        return `${this.operand(c.left)} ${c.op} ${this.operand(c.right)}`;
      case 'exists':
        return `attribute_exists(${this.name(c.name)})`;
      case 'notExists':
        return `attribute_not_exists(${this.name(c.name)})`;
      case 'in':
        if (c.values.length === 0) throw new RangeError('IN needs at least one value');
        return `${this.name(c.name)} IN (${c.values.map((v) => this.value(v)).join(', ')})`;
      case 'contains':
        return `contains(${this.name(c.name)}, ${this.value(c.value)})`;
      case 'not':
        // A negated NOT or AND / OR is parenthesized: `NOT NOT a` does not parse (dynalite, as
        // DynamoDB's grammar).
        return isCompound(c.condition) || unwrapped(c.condition).kind === 'not'
          ? `NOT (${this.condition(c.condition)})`
          : `NOT ${this.condition(c.condition)}`;
      case 'and':
      case 'or':
        if (c.conditions.length === 0)
          throw new RangeError(`${c.kind.toUpperCase()} needs at least one condition`);
        if (c.conditions.length === 1) return this.condition(c.conditions[0] as Condition);
        return c.conditions
          .map((inner) =>
            isCompound(inner) ? `(${this.condition(inner)})` : this.condition(inner),
          )
          .join(` ${c.kind.toUpperCase()} `);
    }
  }

  fields(): Pick<ExpressionFields, 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> {
    return {
      ...(Object.keys(this.names).length > 0 ? { ExpressionAttributeNames: this.names } : {}),
      ...(this.valueCount > 0 ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

/**
 * Whether a condition renders as several terms joined by AND / OR, and so needs parentheses inside
 * another: only those get them, because DynamoDB refuses an expression with redundant parentheses
 * (`((a = :v))`).
 */
function isCompound(c: Condition): boolean {
  const inner = unwrapped(c);
  return (inner.kind === 'and' || inner.kind === 'or') && inner.conditions.length > 1;
}

/** What a condition renders as: an AND / OR of one member renders as that member. */
function unwrapped(c: Condition): Condition {
  let inner = c;
  while ((inner.kind === 'and' || inner.kind === 'or') && inner.conditions.length === 1) {
    inner = inner.conditions[0] as Condition;
  }
  return inner;
}

const isOperand = (v: unknown): v is Operand => typeof v === 'object' && v !== null && OPERAND in v;

/** The fields of an UpdateItem (or a transaction's Update): its actions and, optionally, its condition. */
export function update(actions: UpdateActions, condition?: Condition): ExpressionFields {
  const p = new Placeholders();
  const targets: (readonly string[])[] = [];
  // An attribute named twice, or a nested path and its parent or child, is refused by DynamoDB
  // ("Two document paths overlap"): refused here first, with the names.
  const targetPath = (path: readonly string[]) => {
    if (path.length === 0) throw new RangeError('a path needs at least one name');
    for (const other of targets) {
      const shorter = Math.min(other.length, path.length);
      if (other.slice(0, shorter).every((segment, i) => segment === path[i])) {
        throw new RangeError(`attribute ${path.join('.')} is named in two update actions`);
      }
    }
    targets.push(path);
    return path.map((segment) => p.name(segment)).join('.');
  };
  const target = (name: string) => targetPath([name]);
  const clauses: string[] = [];
  const clause = (keyword: string, actions: string[]) => {
    if (actions.length > 0) clauses.push(`${keyword} ${actions.join(', ')}`);
  };
  clause('SET', [
    ...Object.entries(actions.set ?? {}).map(
      ([n, v]) => `${target(n)} = ${p.operand(isOperand(v) ? v : value(v))}`,
    ),
    ...(actions.setPaths ?? []).map(
      ([path, v]) => `${targetPath(path)} = ${p.operand(isOperand(v) ? v : value(v))}`,
    ),
  ]);
  clause(
    'ADD',
    Object.entries(actions.add ?? {}).map(([n, v]) => `${target(n)} ${p.value(v)}`),
  );
  clause(
    'DELETE',
    Object.entries(actions.delete ?? {}).map(([n, v]) => `${target(n)} ${p.value(v)}`),
  );
  clause('REMOVE', (actions.remove ?? []).map(target));
  if (clauses.length === 0) throw new RangeError('an update needs at least one action');
  return {
    UpdateExpression: clauses.join(' '),
    ...(condition ? { ConditionExpression: p.condition(condition) } : {}),
    ...p.fields(),
  };
}

/** The fields of a conditional PutItem, DeleteItem or transaction ConditionCheck. */
export function conditionOnly(condition: Condition): ExpressionFields {
  const p = new Placeholders();
  return { ConditionExpression: p.condition(condition), ...p.fields() };
}

/**
 * A query narrowed by `condition` as its FilterExpression (none: the query as it is), the filter's
 * placeholders merged into the key condition's. DynamoDB applies `Limit` before the filter, so a
 * page may come back short with more to read: `queryPage` reads on until it has its page.
 */
export function filtered<Input extends FilterableQuery>(
  input: Input,
  condition: Condition | undefined,
): Input {
  if (!condition) return input;
  const p = new Placeholders();
  const FilterExpression = p.condition(condition);
  const { ExpressionAttributeNames: names, ExpressionAttributeValues: values } = p.fields();
  return {
    ...input,
    FilterExpression,
    ExpressionAttributeNames: { ...input.ExpressionAttributeNames, ...names },
    ExpressionAttributeValues: { ...input.ExpressionAttributeValues, ...values },
  };
}

/** The parts of a Query's input a filter touches. */
interface FilterableQuery {
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
  FilterExpression?: string;
}
