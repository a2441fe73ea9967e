import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { isConditionFailure } from '../../../lambda/storage/conditional-writes';
import {
  and,
  type Comparator,
  type Condition,
  compare,
  conditionOnly,
  contains,
  type ExpressionFields,
  exists,
  ifNotExists,
  isIn,
  minus,
  not,
  notExists,
  or,
  size,
  update,
  value,
} from '../../../lambda/storage/expressions';
import { createKeyedTable, type LocalDynamo, startDynalite } from '../../support/dynalite';

/**
 * The expression builder against a real engine (dynalite): what it builds does what an in-memory
 * model of DynamoDB's update and condition rules says, and what the metering code used to write by
 * hand (the strings kept below as the oracle) leaves exactly the same item behind, from any
 * starting item.
 */
describe('DynamoDB expressions built from typed actions (dynalite)', () => {
  let dynamo: LocalDynamo;
  let doc: ReturnType<typeof createDocumentClient>;
  const TableName = 'expressions';
  let n = 0;
  const freshKey = () => ({ pk: `item-${n++}`, sk: 'S' });

  beforeAll(async () => {
    dynamo = await startDynalite();
    doc = createDocumentClient(dynamo.client);
    await createKeyedTable(dynamo.client, TableName);
  }, 60_000);
  afterAll(() => dynamo.stop());

  /** Writes `item` under a fresh key, applies the update, and answers whether it applied and what is left. */
  async function applyTo(
    item: Record<string, unknown> | undefined,
    fields: Omit<UpdateCommand['input'], 'TableName' | 'Key'>,
  ): Promise<{ applied: boolean; item: Record<string, unknown> | undefined }> {
    const Key = freshKey();
    if (item) await doc.send(new PutCommand({ TableName, Item: { ...item, ...Key } }));
    let applied = true;
    try {
      await doc.send(new UpdateCommand({ TableName, Key, ...fields }));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      applied = false;
    }
    const { Item } = await doc.send(new GetCommand({ TableName, Key, ConsistentRead: true }));
    if (!Item) return { applied, item: undefined };
    const { pk: _pk, sk: _sk, ...rest } = Item;
    return { applied, item: rest };
  }

  describe('against a model of DynamoDB', () => {
    // Reserved words (day, status, size), and characters an expression cannot hold bare.
    const NAMES = ['day', 'status', 'size', 'a.b', 'x#y', 'n-1', 'with space', 'v'] as const;
    type Item = Partial<Record<(typeof NAMES)[number], number>>;
    const small = fc.integer({ min: -5, max: 5 });
    const name = fc.constantFrom(...NAMES);
    const items: fc.Arbitrary<Item> = fc.dictionary(name, small);

    type SetSpec =
      | { kind: 'value'; v: number }
      | { kind: 'default'; from: string; v: number; less: number };
    const setSpec: fc.Arbitrary<SetSpec> = fc.oneof(
      fc.record({ kind: fc.constant('value' as const), v: small }),
      fc.record({ kind: fc.constant('default' as const), from: name, v: small, less: small }),
    );
    /** Each attribute named by one action at most (DynamoDB refuses overlapping paths). */
    const actions = fc
      .uniqueArray(fc.tuple(name, fc.constantFrom('set', 'add', 'remove'), setSpec, small), {
        minLength: 1,
        maxLength: 5,
        selector: ([attribute]) => attribute,
      })
      .map((list) =>
        list.map(([attribute, action, spec, amount]) => ({ attribute, action, spec, amount })),
      );

    type Cond =
      | { kind: 'compare'; attribute: string; op: Comparator; v: number }
      | { kind: 'exists' | 'notExists'; attribute: string }
      | { kind: 'in'; attribute: string; values: number[] }
      | { kind: 'and' | 'or'; inner: Cond[] }
      | { kind: 'not'; inner: [Cond] };
    const leaf: fc.Arbitrary<Cond> = fc.oneof(
      fc.record({
        kind: fc.constant('compare' as const),
        attribute: name,
        op: fc.constantFrom<Comparator>('=', '<', '<=', '>', '>='),
        v: small,
      }),
      fc.record({
        kind: fc.constantFrom('exists' as const, 'notExists' as const),
        attribute: name,
      }),
      fc.record({
        kind: fc.constant('in' as const),
        attribute: name,
        values: fc.array(small, { minLength: 1, maxLength: 3 }),
      }),
    );
    // Trees of AND / OR of any depth, single-member groups included (they must not double the
    // parentheses).
    const { condition: conditions } = fc.letrec<{ condition: Cond; group: Cond; negated: Cond }>(
      (tie) => ({
        condition: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          leaf,
          tie('group'),
          tie('negated'),
        ),
        negated: fc.record({
          kind: fc.constant('not' as const),
          inner: fc.tuple(tie('condition')),
        }),
        group: fc.record({
          kind: fc.constantFrom('and' as const, 'or' as const),
          inner: fc.array(tie('condition'), { minLength: 1, maxLength: 3 }),
        }),
      }),
    );

    const built = (c: Cond): Condition => {
      switch (c.kind) {
        case 'compare':
          return compare(c.attribute, c.op, c.v);
        case 'exists':
          return exists(c.attribute);
        case 'notExists':
          return notExists(c.attribute);
        case 'in':
          return isIn(c.attribute, c.values);
        case 'and':
          return and(...c.inner.map(built));
        case 'or':
          return or(...c.inner.map(built));
        case 'not':
          return not(built(c.inner[0]));
      }
    };
    // DynamoDB: a comparison with an attribute the item lacks is false.
    const holds = (c: Cond, item: Record<string, number>): boolean => {
      const a = 'attribute' in c ? item[c.attribute] : undefined;
      switch (c.kind) {
        case 'compare': {
          if (a === undefined) return false;
          const ops: Record<Comparator, boolean> = {
            '=': a === c.v,
            '<>': a !== c.v,
            '<': a < c.v,
            '<=': a <= c.v,
            '>': a > c.v,
            '>=': a >= c.v,
          };
          return ops[c.op];
        }
        case 'exists':
          return a !== undefined;
        case 'notExists':
          return a === undefined;
        case 'in':
          return a !== undefined && c.values.includes(a);
        case 'and':
          return c.inner.every((inner) => holds(inner, item));
        case 'or':
          return c.inner.some((inner) => holds(inner, item));
        case 'not':
          return !holds(c.inner[0], item);
      }
    };

    it('applies SET, ADD and REMOVE as the model does, reading the item as it was before', async () => {
      await fc.assert(
        fc.asyncProperty(items, actions, async (before, list) => {
          const set: Record<string, unknown> = {};
          const add: Record<string, number> = {};
          const remove: string[] = [];
          const expected: Record<string, number> = { ...before };
          const old: Record<string, number> = { ...before };
          for (const { attribute, action, spec, amount } of list) {
            if (action === 'remove') {
              remove.push(attribute);
              delete expected[attribute];
            } else if (action === 'add') {
              add[attribute] = amount;
              expected[attribute] = (old[attribute] ?? 0) + amount;
            } else if (spec.kind === 'value') {
              set[attribute] = spec.v;
              expected[attribute] = spec.v;
            } else {
              set[attribute] = minus(ifNotExists(spec.from, value(spec.v)), value(spec.less));
              expected[attribute] = (old[spec.from] ?? spec.v) - spec.less;
            }
          }
          const result = await applyTo(before, update({ set, add, remove }));
          expect(result.applied).toBe(true);
          expect(result.item ?? {}).toEqual(expected);
        }),
        { numRuns: 100 },
      );
    });

    it('applies the update exactly when the condition holds on the item, the model says', async () => {
      await fc.assert(
        fc.asyncProperty(items, conditions, async (before, condition) => {
          const result = await applyTo(before, update({ add: { v: 1 } }, built(condition)));
          expect(result.applied).toBe(holds(condition, before));
        }),
        { numRuns: 150 },
      );
    });

    it('numbers its own placeholders: a value that looks like an operand stays a value', async () => {
      const stored = { kind: 'attr', name: 'day' };
      const result = await applyTo(undefined, update({ set: { record: stored, day: 3 } }));
      expect(result.item).toEqual({ record: stored, day: 3 });
    });

    it('sets nested paths, and compares sizes and set membership', async () => {
      const result = await applyTo(
        { times: { created: 1 }, open: new Set(['b1']) },
        update(
          { setPaths: [[['times', 'in progress'], 2]], add: { open: new Set(['b2']) } },
          and(compare(size('open'), '<', 2), contains('open', 'b1'), not(contains('open', 'b2'))),
        ),
      );
      expect(result).toEqual({
        applied: true,
        item: { times: { created: 1, 'in progress': 2 }, open: new Set(['b1', 'b2']) },
      });
    });

    it('refuses, before any call, what DynamoDB would refuse', () => {
      expect(() => update({ set: { times: {} }, setPaths: [[['times', 'created'], 1]] })).toThrow(
        'attribute times.created is named in two update actions',
      );
      expect(() => update({ set: { a: 1 }, remove: ['a'] })).toThrow(
        'attribute a is named in two update actions',
      );
      expect(() => update({})).toThrow('an update needs at least one action');
      expect(() => update({ set: { '': 1 } })).toThrow('an attribute name must not be empty');
      expect(() => conditionOnly(isIn('a', []))).toThrow('IN needs at least one value');
      expect(() => conditionOnly(and())).toThrow('AND needs at least one condition');
    });
  });

  describe('the same item as the hand-written expressions it replaced', () => {
    const count = fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined });
    const defined = (item: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined));

    /** The limiter's admission with a hold and a reservation record, as main wrote it before (limiter.ts). */
    it('limiter admission, in the item`s minute and in a new one', async () => {
      const counters = fc.record({
        mid: fc.option(fc.constantFrom('2026-12-07T04:20', '2026-12-07T04:21'), { nil: undefined }),
        mr: count,
        mt: count,
        rd: count,
        td: count,
        gpk: fc.option(fc.constant('DUE#0'), { nil: undefined }),
        gsk: fc.option(fc.constant('2026-12-07T04:00'), { nil: undefined }),
        rv: count,
      });
      const limits = fc.record({
        rpm: fc.integer({ min: 1, max: 20 }),
        tpm: fc.integer({ min: 1, max: 40 }),
        rpd: fc.integer({ min: 1, max: 30 }),
        tpd: fc.integer({ min: 1, max: 60 }),
      });
      await fc.assert(
        fc.asyncProperty(
          counters,
          limits,
          fc.integer({ min: 1, max: 10 }),
          fc.constantFrom('2026-12-07T04:20', '2026-12-07T04:21'),
          fc.boolean(),
          async (state, l, reserve, minute, newMinute) => {
            const record = { requestId: 'r1', tokens: reserve };
            const oldValues = {
              ':one': 1,
              ':reserve': reserve,
              ':rpd': l.rpd,
              ':tpdFree': l.tpd - reserve,
              ':record': record,
              ':gpk': 'DUE#1',
              ':gsk': '2026-12-07T04:30',
              ':minute': minute,
            };
            const names = { '#hold': 'h1', '#rsv': 'r1', '#gpk': 'gpk', '#gsk': 'gsk' };
            const set =
              ', #hold = :reserve, #rsv = :record, #gpk = if_not_exists(#gpk, :gpk), #gsk = if_not_exists(#gsk, :gsk)';
            const old: ExpressionFields = newMinute
              ? {
                  UpdateExpression: `SET mid = :minute, mr = :one, mt = :reserve${set} ADD rd :one, td :reserve, rv :one`,
                  ConditionExpression:
                    '(attribute_not_exists(mid) OR mid < :minute) AND (attribute_not_exists(rd) OR (rd < :rpd AND td <= :tpdFree))',
                  ExpressionAttributeNames: names,
                  ExpressionAttributeValues: oldValues,
                }
              : {
                  UpdateExpression: `ADD mr :one, mt :reserve, rd :one, td :reserve, rv :one SET ${set.slice(2)}`,
                  ConditionExpression:
                    'mid = :minute AND mr < :rpm AND mt <= :tpmFree AND rd < :rpd AND td <= :tpdFree',
                  ExpressionAttributeNames: names,
                  ExpressionAttributeValues: {
                    ...oldValues,
                    ':rpm': l.rpm,
                    ':tpmFree': l.tpm - reserve,
                  },
                };
            const recordSet = {
              h1: reserve,
              r1: record,
              gpk: ifNotExists('gpk', value('DUE#1')),
              gsk: ifNotExists('gsk', value('2026-12-07T04:30')),
            };
            const dayFits = [compare('rd', '<', l.rpd), compare('td', '<=', l.tpd - reserve)];
            const built = newMinute
              ? update(
                  {
                    set: { mid: minute, mr: 1, mt: reserve, ...recordSet },
                    add: { rd: 1, td: reserve, rv: 1 },
                  },
                  and(
                    or(notExists('mid'), compare('mid', '<', minute)),
                    or(notExists('rd'), and(...dayFits)),
                  ),
                )
              : update(
                  { add: { mr: 1, mt: reserve, rd: 1, td: reserve, rv: 1 }, set: recordSet },
                  and(
                    compare('mid', '=', minute),
                    compare('mr', '<', l.rpm),
                    compare('mt', '<=', l.tpm - reserve),
                    ...dayFits,
                  ),
                );
            const before = defined(state);
            expect(await applyTo(before, built)).toEqual(await applyTo(before, old));
          },
        ),
        { numRuns: 120 },
      );
    });

    /** spend.settle with a hold and a batch, and spend.reserve, as main wrote them before (spend.ts). */
    it('spend reservation and settlement', async () => {
      const month = fc.record({
        limitMicroUsd: count,
        headroomMicroUsd: fc.option(fc.integer({ min: -5, max: 20 }), { nil: undefined }),
        usedMicroUsd: count,
        reservedMicroUsd: count,
        committedMicroUsd: count,
        h1: count,
        bdone_b: fc.option(fc.constant(true), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(
          month,
          fc.integer({ min: 0, max: 10 }),
          fc.integer({ min: 0, max: 10 }),
          fc.integer({ min: 0, max: 20 }),
          fc.boolean(),
          async (state, max, actual, seed, newMonthFits) => {
            const before = defined(state);
            const oldReserve: ExpressionFields = {
              UpdateExpression:
                'SET #limit = if_not_exists(#limit, :seed), #headroom = if_not_exists(#headroom, :seed) - :max, #hold = :max ' +
                'ADD usedMicroUsd :max, reservedMicroUsd :max',
              ConditionExpression: `${newMonthFits ? 'attribute_not_exists(#limit) OR ' : ''}#limit = :none OR #headroom >= :max`,
              ExpressionAttributeNames: {
                '#limit': 'limitMicroUsd',
                '#headroom': 'headroomMicroUsd',
                '#hold': 'h2',
              },
              ExpressionAttributeValues: { ':max': max, ':seed': seed, ':none': 0 },
            };
            const builtReserve = update(
              {
                set: {
                  limitMicroUsd: ifNotExists('limitMicroUsd', value(seed)),
                  headroomMicroUsd: minus(ifNotExists('headroomMicroUsd', value(seed)), value(max)),
                  h2: max,
                },
                add: { usedMicroUsd: max, reservedMicroUsd: max },
              },
              or(
                ...(newMonthFits ? [notExists('limitMicroUsd')] : []),
                compare('limitMicroUsd', '=', 0),
                compare('headroomMicroUsd', '>=', max),
              ),
            );
            expect(await applyTo(before, builtReserve)).toEqual(await applyTo(before, oldReserve));

            const oldSettle: ExpressionFields = {
              UpdateExpression:
                'ADD usedMicroUsd :delta, reservedMicroUsd :release, committedMicroUsd :actual, headroomMicroUsd :refund' +
                ', #bres :reserved, #bcost :actual REMOVE #hold',
              ConditionExpression: 'attribute_exists(#hold) AND attribute_not_exists(#bdone)',
              ExpressionAttributeNames: {
                '#hold': 'h1',
                '#bres': 'bres_b',
                '#bcost': 'bcost_b',
                '#bdone': 'bdone_b',
              },
              ExpressionAttributeValues: {
                ':delta': actual - max,
                ':release': -max,
                ':actual': actual,
                ':refund': max - actual,
                ':reserved': max,
              },
            };
            const builtSettle = update(
              {
                add: {
                  usedMicroUsd: actual - max,
                  reservedMicroUsd: -max,
                  committedMicroUsd: actual,
                  headroomMicroUsd: max - actual,
                  bres_b: max,
                  bcost_b: actual,
                },
                remove: ['h1'],
              },
              and(exists('h1'), notExists('bdone_b')),
            );
            expect(await applyTo(before, builtSettle)).toEqual(await applyTo(before, oldSettle));
          },
        ),
        { numRuns: 80 },
      );
    });
  });
});
