import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import type { Principal } from '../../../lambda/customers/authenticate';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { projectScope } from '../../../lambda/customers/project-limits';
import type { LedgerRecord } from '../../../lambda/metering/ledger';
import { LedgerWriter } from '../../../lambda/metering/ledger';
import { Limiter } from '../../../lambda/metering/limiter';
import { costMicroUsd } from '../../../lambda/metering/pricing';
import { ReservationReconciler } from '../../../lambda/metering/reconciler';
import { type MeteredRequest, RequestMetering } from '../../../lambda/metering/request-metering';
import { MAX_REQUEST_MS, RECONCILE_MARGIN_MS } from '../../../lambda/metering/reservations';
import type { SpendTracker } from '../../../lambda/metering/spend';
import { loadConfig } from '../../../lib/config/load';
import type { ModelLimits } from '../../../lib/config/schema';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { meteringOn } from '../../support/metering';

const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-14b';
const T0 = Date.parse('2026-11-28T09:37:10.000Z');
/** Past every deadline of a request admitted at T0. */
const OVERDUE = T0 + MAX_REQUEST_MS + RECONCILE_MARGIN_MS + 1_000;
const PRICES = config.tiers.developer.models[MODEL] as {
  inputUsdPerMillion: number;
  outputUsdPerMillion: number;
};

let dynamo: LocalDynamo;
let parts: Awaited<ReturnType<typeof meteringOn>>;
const clock = { now: T0 };
beforeAll(async () => {
  dynamo = await startDynalite();
  parts = await meteringOn(dynamo, config, () => new Date(clock.now));
});
afterAll(() => dynamo.stop());

let customers = 0;
function principal(tier: Principal['tier'] = 'developer'): Principal {
  customers += 1;
  return {
    kind: 'project_key',
    projectId: 'proj_test',
    keyId: 'key_rec',
    customerId: `cus_rec_${customers}`,
    tier,
    usageIdentifierKey: `key_${customers}`,
  };
}

let requests = 0;
function admit(who: Principal, inputTokens = 100, maxTokens = 50): Promise<MeteredRequest> {
  requests += 1;
  return parts.metering.admit({
    requestId: `req_rec_${requests}`,
    principal: who,
    model: MODEL,
    inputTokens,
    outputTokens: { fixed: maxTokens },
  });
}

/** What the customer's items say: the day counters summed over shards, the month's spend, the holds left. */
async function state(who: Principal) {
  const documents = createDocumentClient(dynamo.client);
  const shards = parts.limiter.shardCountOf(config.tiers[who.tier].models[MODEL] as ModelLimits);
  let requestsToday = 0;
  let tokensToday = 0;
  let holds = 0;
  for (let shard = 0; shard < shards; shard++) {
    const { Item = {} } = await documents.send(
      new GetCommand({
        TableName: parts.tableName,
        Key: { pk: `LIM#${who.customerId}#${MODEL}#2026-11-28#${shard}`, sk: 'LIM' },
      }),
    );
    requestsToday += (Item.rd as number | undefined) ?? 0;
    tokensToday += (Item.td as number | undefined) ?? 0;
    holds += Object.keys(Item).filter((name) => /^h[A-Za-z0-9_-]{12}$/.test(name)).length;
  }
  const { Item: spend = {} } = await documents.send(
    new GetCommand({
      TableName: parts.tableName,
      Key: { pk: `SPEND#${who.customerId}#2026-11`, sk: 'SPEND' },
    }),
  );
  holds += Object.keys(spend).filter((name) => /^h[A-Za-z0-9_-]{12}$/.test(name)).length;
  const { Items: ledger = [] } = await documents.send(
    new QueryCommand({
      TableName: parts.tableName,
      IndexName: 'byCustomerDay',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': `USAGE#${who.customerId}#2026-11-28` },
    }),
  );
  return {
    requestsToday,
    tokensToday,
    holds,
    reservedMicroUsd: (spend.reservedMicroUsd as number | undefined) ?? 0,
    committedMicroUsd: (spend.committedMicroUsd as number | undefined) ?? 0,
    usedMicroUsd: (spend.usedMicroUsd as number | undefined) ?? 0,
    ledger: ledger as unknown as LedgerRecord[],
  };
}

/** The reservation records still held for the customer: `r<holdId>` attributes on its counter items. */
async function reservationRecordsOf(who: Principal): Promise<number> {
  const documents = createDocumentClient(dynamo.client);
  const shards = parts.limiter.shardCountOf(config.tiers[who.tier].models[MODEL] as ModelLimits);
  let count = 0;
  for (let shard = 0; shard < shards; shard++) {
    const { Item = {} } = await documents.send(
      new GetCommand({
        TableName: parts.tableName,
        Key: { pk: `LIM#${who.customerId}#${MODEL}#2026-11-28#${shard}`, sk: 'LIM' },
        ConsistentRead: true,
      }),
    );
    count += Object.keys(Item).filter((name) => /^r[A-Za-z0-9_-]{12}$/.test(name)).length;
  }
  return count;
}

/** The due-index entries of the customer's counter items: which item, due when. */
async function dueEntriesOf(who: Principal): Promise<{ pk: string; due: string }[]> {
  const documents = createDocumentClient(dynamo.client);
  const entries: { pk: string; due: string }[] = [];
  for (let shard = 0; shard < 16; shard++) {
    const { Items = [] } = await documents.send(
      new QueryCommand({
        TableName: parts.tableName,
        IndexName: 'byCustomerDay',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': `RSVDUE#${shard}` },
      }),
    );
    for (const item of Items) {
      if (String(item.pk).startsWith(`LIM#${who.customerId}#`)) {
        entries.push({ pk: item.pk as string, due: String(item.gsi1sk).split('#')[0] as string });
      }
    }
  }
  return entries;
}

/** The deadline of a request started at `startMs`, as the due index writes it. */
const deadlineOf = (startMs: number) =>
  new Date(startMs + MAX_REQUEST_MS + RECONCILE_MARGIN_MS).toISOString();
const counterItem = (who: Principal) => `LIM#${who.customerId}#${MODEL}#2026-11-28#0`;

const inputCost = (tokens: number) =>
  costMicroUsd(
    { inputTokens: tokens, outputTokens: 0 },
    {
      inputMicroUsdPerMillion: Math.round(PRICES.inputUsdPerMillion * 1e6),
      outputMicroUsdPerMillion: Math.round(PRICES.outputUsdPerMillion * 1e6),
    },
  );

describe('crash-safe reservations: the reconciler', () => {
  beforeEach(() => {
    clock.now = T0;
  });

  it('releases a request killed after its reservation once, billing its input as `reconciled`', async () => {
    const who = principal();
    await admit(who, 100, 50); // the process "dies" here: never finished nor released
    const held = await state(who);
    expect(held).toMatchObject({ requestsToday: 1, tokensToday: 150, holds: 2 });
    expect(held.reservedMicroUsd).toBeGreaterThan(0);
    expect(await reservationRecordsOf(who)).toBe(1);

    clock.now = T0 + MAX_REQUEST_MS; // not overdue yet: nothing is touched
    expect(await parts.reconciler.run()).toMatchObject({ found: 0, billed: 0 });

    clock.now = OVERDUE;
    const first = await parts.reconciler.run();
    const second = await parts.reconciler.run();

    expect(first).toMatchObject({ found: 1, billed: 1, holdsReleased: 2, failed: [] });
    expect(second).toMatchObject({ found: 0, billed: 0, holdsReleased: 0 });
    const after = await state(who);
    expect(after).toMatchObject({
      requestsToday: 1,
      tokensToday: 100,
      holds: 0,
      reservedMicroUsd: 0,
      committedMicroUsd: inputCost(100),
      usedMicroUsd: inputCost(100),
    });
    expect(after.ledger).toHaveLength(1);
    expect(after.ledger[0]).toMatchObject({
      status: 'reconciled',
      inputTokens: 100,
      outputTokens: 0,
      // The reservation record kept where the request ran.
      projectId: 'proj_test',
      apiKeyId: 'key_rec',
    });
    expect(await reservationRecordsOf(who)).toBe(0);
  });

  it("settles a killed request's hold on its project's month to the same bill", async () => {
    clock.now = T0;
    const who = { ...principal(), projectSpendLimitMicroUsd: 1_000_000 };
    await admit(who, 100, 50); // dies after both spend holds
    const scope = projectScope(who.customerId, who.projectId);
    const held = await parts.spend.getMonthOf(scope, '2026-11');
    expect(held.reservedMicroUsd).toBeGreaterThan(0);

    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ billed: 1, holdsReleased: 3, failed: [] });
    expect(await parts.spend.getMonthOf(scope, '2026-11')).toMatchObject({
      reservedMicroUsd: 0,
      spentMicroUsd: inputCost(100),
    });
    expect((await state(who)).committedMicroUsd).toBe(inputCost(100));
  });

  it('does not bill twice when the request settles after the reconciler took it over', async () => {
    const who = principal();
    const request = await admit(who, 200, 100);
    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ billed: 1 });

    await request.finish({ status: 'completed', inputTokens: 210, outputTokens: 90 });

    const after = await state(who);
    expect(after.ledger).toHaveLength(1);
    expect(after.ledger[0]).toMatchObject({ status: 'reconciled', inputTokens: 200 });
    expect(after).toMatchObject({
      requestsToday: 1,
      tokensToday: 200,
      holds: 0,
      reservedMicroUsd: 0,
      committedMicroUsd: inputCost(200),
    });
  });

  it('leaves a request that billed itself alone, and releases a request that never reached the model', async () => {
    const who = principal();
    const finished = await admit(who, 100, 50);
    const released = await admit(who, 100, 50);
    await finished.finish({ status: 'completed', inputTokens: 100, outputTokens: 20 });
    await released.release();
    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ found: 0 });
    const after = await state(who);
    expect(after).toMatchObject({
      requestsToday: 1,
      tokensToday: 120,
      holds: 0,
      reservedMicroUsd: 0,
    });
    expect(after.ledger.map((r) => r.status)).toEqual(['completed']);
  });

  it('leaves nothing to reconcile when nothing was held (a refusal; a crash before the counter admission)', async () => {
    const who = principal('free');
    const limits = config.tiers.free.models[MODEL] as { tpm: number };
    // A request larger than the minute's tokens is refused before any hold.
    await expect(admit(who, limits.tpm - 10, 100)).rejects.toMatchObject({ status: 413 });
    // A process killed before its counter admission wrote nothing: that update is a request's first
    // write, and its reservation record rides on it, so no record (and no index entry) exists
    // without a counter hold.
    expect(await dueEntriesOf(who)).toEqual([]);
    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ found: 0, billed: 0, holdsReleased: 0 });
    const after = await state(who);
    expect(after).toMatchObject({ requestsToday: 0, tokensToday: 0, holds: 0 });
    expect(after.ledger).toHaveLength(0);
    expect(await reservationRecordsOf(who)).toBe(0);
  });

  it('a free request (no spend) killed in flight is released from the day counters', async () => {
    const who = principal('free');
    await admit(who, 300, 700);
    expect(await state(who)).toMatchObject({ tokensToday: 1_000, holds: 1 });
    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ billed: 1, holdsReleased: 1 });
    expect(await state(who)).toMatchObject({ requestsToday: 1, tokensToday: 300, holds: 0 });
  });

  it('concurrent reconcilers and late settlements release each hold once and bill each request once', async () => {
    type Fate = 'crash' | 'early' | 'late' | 'never_ran';
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Fate>('crash', 'early', 'late', 'never_ran'), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.integer({ min: 2, max: 4 }),
        async (fates, reconcilers) => {
          clock.now = T0;
          const who = principal();
          const admitted = await Promise.all(fates.map((_, i) => admit(who, 100 + i, 50)));
          clock.now = T0 + 1_000;
          await Promise.all(
            fates.map((fate, i) => {
              const request = admitted[i] as MeteredRequest;
              if (fate === 'early')
                return request.finish({
                  status: 'completed',
                  inputTokens: 100 + i,
                  outputTokens: 7,
                });
              if (fate === 'never_ran') return request.release();
              return undefined;
            }),
          );
          clock.now = OVERDUE;
          // The reconcilers race each other and the late settlements.
          await Promise.all([
            ...Array.from({ length: reconcilers }, () => parts.reconciler.run()),
            ...fates.map((fate, i) =>
              fate === 'late'
                ? (admitted[i] as MeteredRequest).finish({
                    status: 'completed',
                    inputTokens: 100 + i,
                    outputTokens: 9,
                  })
                : undefined,
            ),
          ]);
          const after = await state(who);
          const billed = fates.filter((fate) => fate !== 'never_ran').length;
          expect(after.ledger).toHaveLength(billed);
          expect(new Set(after.ledger.map((r) => r.requestId)).size).toBe(billed);
          expect(after.holds).toBe(0);
          expect(after.reservedMicroUsd).toBe(0);
          // What the counters and the spend item kept is exactly what the ledger bills.
          expect(after.requestsToday).toBe(billed);
          expect(after.tokensToday).toBe(
            after.ledger.reduce((n, r) => n + r.inputTokens + r.outputTokens, 0),
          );
          expect(after.committedMicroUsd).toBe(
            after.ledger.reduce((n, r) => n + r.costMicroUsd, 0),
          );
          expect(after.usedMicroUsd).toBe(after.committedMicroUsd);
          const crashed = fates.filter((fate) => fate === 'crash').length;
          expect(
            after.ledger.filter((r) => r.status === 'reconciled').length,
          ).toBeGreaterThanOrEqual(crashed);
          expect(await reservationRecordsOf(who)).toBe(0);
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  it('reconciles only the due records of a counter item holding several, and moves its index entry', async () => {
    const who = principal();
    expect(parts.limiter.shardCountOf(config.tiers.developer.models[MODEL] as ModelLimits)).toBe(1);
    await admit(who, 100, 50); // killed in flight
    clock.now = T0 + 5 * 60_000;
    const later = await admit(who, 200, 50); // on the same counter item, still in flight at the first's deadline
    // The first deadline stays the item's (if_not_exists): the reconciler looks at the item from
    // then on.
    expect(await dueEntriesOf(who)).toEqual([{ pk: counterItem(who), due: deadlineOf(T0) }]);

    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({
      found: 1,
      billed: 1,
      holdsReleased: 2,
      failed: [],
    });
    expect(await state(who)).toMatchObject({ requestsToday: 2, tokensToday: 100 + 250, holds: 2 });
    expect(await dueEntriesOf(who)).toEqual([
      { pk: counterItem(who), due: deadlineOf(T0 + 5 * 60_000) },
    ]);
    expect(await parts.reconciler.run()).toMatchObject({ found: 0, holdsReleased: 0 });

    await later.finish({ status: 'completed', inputTokens: 200, outputTokens: 30 });
    clock.now = OVERDUE + 5 * 60_000;
    // Settled by itself: the item is looked at once more, holds nothing, and leaves the index.
    expect(await parts.reconciler.run()).toMatchObject({ found: 0, billed: 0, holdsReleased: 0 });
    expect(await dueEntriesOf(who)).toEqual([]);
    const after = await state(who);
    expect(after).toMatchObject({
      requestsToday: 2,
      tokensToday: 100 + 230,
      holds: 0,
      reservedMicroUsd: 0,
    });
    expect(after.ledger.map((r) => r.status).sort()).toEqual(['completed', 'reconciled']);
  });

  it("an admission between the reconciler's read and its index move keeps its record indexed (rv)", async () => {
    const who = principal();
    await admit(who, 100, 50); // killed in flight
    clock.now = OVERDUE;
    let reads = 0;
    const racing = new ReservationReconciler({
      book: parts.reservations,
      ledger: new LedgerWriter(createDocumentClient(dynamo.client), parts.tableName, {
        send: async () => undefined,
      }),
      limiter: {
        heldAt: async (pk) => {
          const item = await parts.limiter.heldAt(pk);
          reads += 1;
          // A new request is admitted on the item after this read: the read misses its record.
          if (reads === 1) await admit(who, 300, 50);
          return item;
        },
        settle: (hold, tokens) => parts.limiter.settle(hold, tokens),
        release: (hold) => parts.limiter.release(hold),
      },
      spend: parts.spend,
      now: () => new Date(clock.now),
    });
    expect(await racing.run()).toMatchObject({ found: 1, billed: 1, holdsReleased: 2, failed: [] });
    // Its move was refused (the version had changed): it read again and indexed the item at the new
    // record.
    expect(reads).toBe(2);
    expect(await dueEntriesOf(who)).toEqual([{ pk: counterItem(who), due: deadlineOf(OVERDUE) }]);

    // The new request is killed too: it is reconciled at its own deadline.
    clock.now = OVERDUE + MAX_REQUEST_MS + RECONCILE_MARGIN_MS + 1_000;
    expect(await parts.reconciler.run()).toMatchObject({
      found: 1,
      billed: 1,
      holdsReleased: 2,
      failed: [],
    });
    expect(await dueEntriesOf(who)).toEqual([]);
    const after = await state(who);
    expect(after).toMatchObject({
      requestsToday: 2,
      tokensToday: 400,
      holds: 0,
      reservedMicroUsd: 0,
    });
    expect(after.ledger.map((r) => r.status)).toEqual(['reconciled', 'reconciled']);
  });

  /** One request of 100 prompt tokens and at most 50 out, admitted by `metering`. */
  const admitWith = (metering: RequestMetering, who: Principal, requestId: string) =>
    metering.admit({
      requestId,
      principal: who,
      model: MODEL,
      inputTokens: 100,
      outputTokens: { fixed: 50 },
    });

  /** Request metering whose spend call `step` never answers: the process "dies" there. */
  const meteringDyingAt = (step: 'reserve' | 'settle') =>
    new RequestMetering({
      config,
      limiter: parts.limiter,
      spend: Object.create(parts.spend, {
        [step]: { value: () => new Promise(() => undefined) },
      }) as SpendTracker,
      ledger: new LedgerWriter(createDocumentClient(dynamo.client), parts.tableName, {
        send: async () => undefined,
      }),
      now: () => new Date(clock.now),
    });

  it('a paying request killed between its counter hold and its spend hold is released, not billed', async () => {
    const who = principal();
    // The spend reservation never answers: the process "dies" there, after its counter admission.
    const dying = meteringDyingAt('reserve');
    void admitWith(dying, who, 'req_rec_no_spend_hold');
    for (let i = 0; i < 100 && (await state(who)).holds === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await state(who)).toMatchObject({
      requestsToday: 1,
      tokensToday: 150,
      holds: 1,
      reservedMicroUsd: 0,
    });
    expect(await dueEntriesOf(who)).toEqual([{ pk: counterItem(who), due: deadlineOf(T0) }]);

    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({
      found: 1,
      billed: 0,
      holdsReleased: 1,
      failed: [],
    });
    const after = await state(who);
    expect(after).toMatchObject({
      requestsToday: 0,
      tokensToday: 0,
      holds: 0,
      reservedMicroUsd: 0,
      committedMicroUsd: 0,
    });
    expect(after.ledger).toHaveLength(0);
    expect(await dueEntriesOf(who)).toEqual([]);
  });

  it('a paying request killed between its spend and counter settlements keeps its record for the spend hold', async () => {
    const who = principal();
    // The spend settlement never answers: the process "dies" there, its ledger record written
    // (first).
    const dying = meteringDyingAt('settle');
    const request = await admitWith(dying, who, 'req_rec_settling');
    void request.finish({ status: 'completed', inputTokens: 100, outputTokens: 20 });
    for (let i = 0; i < 100 && (await state(who)).ledger.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    // The counter hold, and the record on it, wait for the spend hold: the reconciler can still
    // find it.
    expect(await state(who)).toMatchObject({ tokensToday: 150, holds: 2 });

    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({
      found: 1,
      billed: 0,
      alreadyBilled: 1,
      holdsReleased: 2,
    });
    const after = await state(who);
    expect(after.ledger).toHaveLength(1);
    expect(after).toMatchObject({
      requestsToday: 1,
      tokensToday: 120,
      holds: 0,
      reservedMicroUsd: 0,
      committedMicroUsd: after.ledger[0]?.costMicroUsd,
    });
    expect(await dueEntriesOf(who)).toEqual([]);
  });

  it("a reconciler whose spend settlement fails keeps the record (the spend hold's only way) for the next run", async () => {
    const who = principal();
    await admit(who, 100, 50); // killed in flight
    clock.now = OVERDUE;
    // This run's spend settlement fails (a throttled or dropped call): its counter settlement must
    // not have removed the record that leads the next run to the spend hold.
    const failing = new ReservationReconciler({
      book: parts.reservations,
      ledger: new LedgerWriter(createDocumentClient(dynamo.client), parts.tableName, {
        send: async () => undefined,
      }),
      limiter: parts.limiter,
      spend: Object.create(parts.spend, {
        settle: { value: async () => Promise.reject(new Error('spend settle failed')) },
      }) as SpendTracker,
      now: () => new Date(clock.now),
    });
    expect((await failing.run()).failed).toHaveLength(1);

    expect(await parts.reconciler.run()).toMatchObject({ failed: [] });
    const after = await state(who);
    expect(after.ledger).toHaveLength(1);
    expect(after).toMatchObject({
      requestsToday: 1,
      tokensToday: 100,
      holds: 0,
      reservedMicroUsd: 0,
      committedMicroUsd: inputCost(100),
    });
    expect(await dueEntriesOf(who)).toEqual([]);
  });

  it('bills a fine-tuned request killed in flight under the fine-tune it called, at its prices', async () => {
    const who = principal();
    const fineTuned = `ft:${MODEL}:${who.customerId}:support:abc123`;
    await parts.metering.admit({
      requestId: 'req_rec_fine_tuned',
      principal: who,
      model: fineTuned,
      fineTune: { baseModel: MODEL, premiumPercent: 50 },
      inputTokens: 100,
      outputTokens: { fixed: 50 },
    }); // killed in flight
    // Held on the base model's counters, which its adapters share.
    expect(await state(who)).toMatchObject({ requestsToday: 1, tokensToday: 150, holds: 2 });
    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ found: 1, billed: 1, failed: [] });
    const after = await state(who);
    expect(after).toMatchObject({
      requestsToday: 1,
      tokensToday: 100,
      holds: 0,
      reservedMicroUsd: 0,
    });
    // The ledger names what was called, as the request's own bill would; the counters were its base
    // model's.
    expect(after.ledger).toHaveLength(1);
    expect(after.ledger[0]).toMatchObject({
      model: fineTuned,
      status: 'reconciled',
      inputTokens: 100,
    });
    expect(after.ledger[0]?.costMicroUsd).toBe(after.committedMicroUsd);
  });

  it("counts a fine-tune's requests on its base model's limits: one RPM for both, refused with a 429", async () => {
    const who = principal('free');
    const { rpm } = config.tiers.free.models[MODEL] as { rpm: number };
    const fineTuned = (i: number) =>
      parts.metering.admit({
        requestId: `req_rec_ft_rpm_${i}`,
        principal: who,
        model: `ft:${MODEL}:${who.customerId}:rpm:abc123`,
        fineTune: { baseModel: MODEL, premiumPercent: 0 },
        inputTokens: 10,
        outputTokens: { fixed: 10 },
      });
    const done = { status: 'completed' as const, inputTokens: 10, outputTokens: 10 };
    for (let i = 0; i < rpm - 1; i++) await (await admit(who, 10, 10)).finish(done);
    await (await fineTuned(0)).finish(done);
    // The minute's requests are spent, by the base model and its fine-tune together.
    await expect(fineTuned(1)).rejects.toMatchObject({ status: 429 });
    await expect(admit(who, 10, 10)).rejects.toMatchObject({ status: 429 });
  });

  it('finds and releases requests killed on sharded counters, either side of a UTC day boundary', async () => {
    const who = principal();
    const shards = 4;
    const sharded = new RequestMetering({
      config,
      limiter: new Limiter(createDocumentClient(dynamo.client), parts.tableName, {
        now: () => clock.now,
        shards: () => shards,
      }),
      spend: parts.spend,
      ledger: new LedgerWriter(createDocumentClient(dynamo.client), parts.tableName, {
        send: async () => undefined,
      }),
      now: () => new Date(clock.now),
    });
    const midnight = Date.parse('2026-11-29T00:00:00.000Z');
    const startsAt = [-9_000, -5_000, -1_000, -1, 0, 1_000, 5_000, 9_000].map(
      (offset) => midnight + offset,
    );
    for (const [i, at] of startsAt.entries()) {
      clock.now = at;
      // Each killed in flight, on whichever shard took it, on the counters of the day it started.
      await sharded.admit({
        requestId: `req_rec_sharded_${i}`,
        principal: who,
        model: MODEL,
        inputTokens: 100 + i,
        outputTokens: { fixed: 50 },
      });
    }
    clock.now = midnight + 9_000 + MAX_REQUEST_MS + RECONCILE_MARGIN_MS + 1_000;
    expect(await parts.reconciler.run()).toMatchObject({
      found: 8,
      billed: 8,
      holdsReleased: 16,
      failed: [],
    });
    expect(await parts.reconciler.run()).toMatchObject({ found: 0, holdsReleased: 0 });

    const documents = createDocumentClient(dynamo.client);
    let tokens = 0;
    for (const day of ['2026-11-28', '2026-11-29']) {
      for (let shard = 0; shard < shards; shard++) {
        const { Item = {} } = await documents.send(
          new GetCommand({
            TableName: parts.tableName,
            Key: { pk: `LIM#${who.customerId}#${MODEL}#${day}#${shard}`, sk: 'LIM' },
          }),
        );
        tokens += (Item.td as number | undefined) ?? 0;
        expect(Object.keys(Item).filter((name) => /^[hr][A-Za-z0-9_-]{12}$/.test(name))).toEqual(
          [],
        );
        expect(Item.gsi1pk).toBeUndefined();
      }
    }
    // Billed their input, once each: the counters keep exactly that.
    expect(tokens).toBe(startsAt.reduce((sum, _, i) => sum + 100 + i, 0));
    const { Item: spend = {} } = await documents.send(
      new GetCommand({
        TableName: parts.tableName,
        Key: { pk: `SPEND#${who.customerId}#2026-11`, sk: 'SPEND' },
      }),
    );
    expect(spend.reservedMicroUsd).toBe(0);
  });

  it('a paying request killed after its spend settlement, before its ledger record, is still billed', async () => {
    const who = principal();
    // The ledger write never answers: the process "dies" there, whatever else it had under way.
    const ledger = new LedgerWriter(createDocumentClient(dynamo.client), parts.tableName, {
      send: async () => undefined,
    });
    let reachedLedger!: () => void;
    const atLedger = new Promise<void>((resolve) => (reachedLedger = resolve));
    const dying = new RequestMetering({
      config,
      limiter: parts.limiter,
      spend: parts.spend,
      ledger: Object.create(ledger, {
        write: {
          value: () => {
            reachedLedger();
            return new Promise(() => undefined);
          },
        },
      }) as LedgerWriter,
      now: () => new Date(clock.now),
    });
    const request = await admitWith(dying, who, 'req_rec_unwritten');
    void request.finish({ status: 'completed', inputTokens: 100, outputTokens: 20 });
    // Dead at the ledger write, however long the way there took (not a sleep "long enough").
    await atLedger;

    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ failed: [] });
    const after = await state(who);
    // Whatever the month's spend kept is in the ledger, and the counters count the request.
    expect(after.ledger).toHaveLength(1);
    expect(after).toMatchObject({ requestsToday: 1, holds: 0, reservedMicroUsd: 0 });
    expect(after.committedMicroUsd).toBe(after.ledger[0]?.costMicroUsd);
    expect(after.tokensToday).toBe(
      (after.ledger[0]?.inputTokens ?? 0) + (after.ledger[0]?.outputTokens ?? 0),
    );
  });
});
