import { GetCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import {
  type Admission,
  type AdmitInput,
  Limiter,
  type OutputTokens,
  type Reservation,
} from '../../../lambda/metering/limiter';
import { type LimitCounters, shardCount, utcWindows } from '../../../lambda/metering/rate-limits';
import type { ModelLimits } from '../../../lib/config/schema';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const MODEL = 'qwen3-14b';
/** The first millisecond of a minute. */
const START = Date.parse('2026-11-28T09:37:00.000Z');
const ROOMY: ModelLimits = { rpm: 1_000, rpd: 100_000, tpm: 1_000_000, tpd: 10_000_000 };

let dynamo: LocalDynamo;
let table: Awaited<ReturnType<typeof newMeteringTable>>;
beforeAll(async () => {
  dynamo = await startDynalite();
  table = await newMeteringTable(dynamo);
});
afterAll(() => dynamo.stop());

let customers = 0;

/** A limiter on the file's table with a clock of its own, and a customer no other test uses. */
function setup(options: { shards?: number; now?: number } = {}) {
  const { tableName, doc } = table;
  const clock = { now: options.now ?? START };
  const { shards } = options;
  const limiter = new Limiter(doc, tableName, {
    now: () => clock.now,
    shards: shards === undefined ? undefined : () => shards,
  });
  customers += 1;
  const customerId = `cus_${customers}`;
  const request = (limits: Partial<ModelLimits>, over: Partial<AdmitInput> = {}): AdmitInput => ({
    customerId,
    model: MODEL,
    limits: { ...ROOMY, ...limits },
    inputTokens: 10,
    outputTokens: { fixed: 20 },
    ...over,
  });
  const item = async (reservation: Reservation) => {
    const key = `LIM#${reservation.customerId}#${reservation.model}#${reservation.day}#${reservation.shard}`;
    const { Item } = await doc.send(
      new GetCommand({ TableName: tableName, Key: { pk: key, sk: 'LIM' } }),
    );
    return Item;
  };
  return { limiter, clock, request, item };
}

/** Starts all `n` calls at once: each waits on one shared promise, released after all are created. */
async function concurrently<T>(n: number, task: () => Promise<T>): Promise<T[]> {
  let open = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const running = Array.from({ length: n }, async () => {
    await gate;
    return task();
  });
  open();
  return Promise.all(running);
}

function reservationOf(admission: Admission): Reservation {
  if (!admission.admitted)
    throw new Error(`expected an admission, got ${JSON.stringify(admission)}`);
  return admission.reservation;
}

async function callsOf(action: () => Promise<unknown>): Promise<number> {
  const before = dynamo.calls();
  await action();
  return dynamo.calls() - before;
}

describe('admission under concurrency', () => {
  it('admits exactly RPM requests of ten times as many at once', async () => {
    const { limiter, request } = setup();

    const results = await concurrently(200, () => limiter.admit(request({ rpm: 20 })));

    expect(results.filter((r) => r.admitted)).toHaveLength(20);
    for (const refused of results.filter((r) => !r.admitted)) {
      expect(refused).toMatchObject({
        reason: 'rpm',
        limit: 20,
        used: 20,
        requested: 1,
        retryAfterMs: 60_000,
      });
    }
    expect(await limiter.peek(request({ rpm: 20 }))).toMatchObject({
      requestsThisMinute: 20,
      requestsToday: 20,
    });
  });

  it('admits exactly TPM tokens of fixed reservations', async () => {
    const { limiter, request } = setup();
    const tenTokens = request({ tpm: 150 }, { inputTokens: 4, outputTokens: { fixed: 6 } });

    const results = await concurrently(150, () => limiter.admit(tenTokens));

    expect(results.filter((r) => r.admitted)).toHaveLength(15);
    expect(results.filter((r) => !r.admitted).every((r) => !r.admitted && r.reason === 'tpm')).toBe(
      true,
    );
    expect(await limiter.peek(tenTokens)).toMatchObject({
      tokensThisMinute: 150,
      requestsThisMinute: 15,
    });
  });

  it('admits exactly the limit over forced shards, each shard its part', async () => {
    const { limiter, request } = setup({ shards: 3 });

    const results = await concurrently(110, () => limiter.admit(request({ rpm: 11 })));

    const shards = results.filter((r) => r.admitted).map((r) => reservationOf(r).shard);
    expect(shards).toHaveLength(11);
    expect([0, 1, 2].map((shard) => shards.filter((s) => s === shard).length)).toEqual([4, 4, 3]);
    expect(await limiter.peek(request({ rpm: 11 }))).toMatchObject({ requestsThisMinute: 11 });
    const refused = results.find((r) => !r.admitted);
    expect(refused).toMatchObject({ reason: 'rpm', limit: 11, used: 11, retryAfterMs: 60_000 });
  });

  it('shards a hot key by its RPM and still admits exactly the TPM', async () => {
    const { limiter, request } = setup();
    const hot = request({ rpm: 30_000, tpm: 120 }, { inputTokens: 4, outputTokens: { fixed: 6 } });
    expect(shardCount(hot.limits)).toBe(2);

    const results = await concurrently(120, () => limiter.admit(hot));

    expect(results.filter((r) => r.admitted)).toHaveLength(12);
    expect(new Set(results.filter((r) => r.admitted).map((r) => reservationOf(r).shard))).toEqual(
      new Set([0, 1]),
    );
    expect(await limiter.peek(hot)).toMatchObject({
      tokensThisMinute: 120,
      requestsThisMinute: 12,
    });
  });
});

describe('windows', () => {
  it('gives the RPM budget back at the next minute while the day keeps counting', async () => {
    const { limiter, clock, request } = setup({ now: START + 15_000 });
    const twoPerMinute = request({ rpm: 2 });
    await limiter.admit(twoPerMinute);
    await limiter.admit(twoPerMinute);

    const refused = await limiter.admit(twoPerMinute);
    clock.now = START + 60_000;
    const next = await limiter.admit(twoPerMinute);

    expect(refused).toMatchObject({
      admitted: false,
      reason: 'rpm',
      used: 2,
      retryAfterMs: 45_000,
    });
    expect(next).toMatchObject({
      admitted: true,
      reservation: { minute: '2026-11-28T09:38' },
      counters: { requestsToday: 3, tokensToday: 90, requestsThisMinute: 1, tokensThisMinute: 30 },
    });
  });

  it('starts a new item at the next UTC day, with every budget back', async () => {
    const { limiter, clock, request } = setup({ now: Date.parse('2026-11-28T23:59:30.000Z') });
    const threePerDay = request({ rpm: 3, rpd: 3 });
    for (let i = 0; i < 3; i++) reservationOf(await limiter.admit(threePerDay));

    const refused = await limiter.admit(threePerDay);
    clock.now += 30_000;
    const next = await limiter.admit(threePerDay);

    expect(refused).toMatchObject({
      admitted: false,
      reason: 'rpd',
      limit: 3,
      used: 3,
      retryAfterMs: 30_000,
    });
    expect(next).toMatchObject({
      admitted: true,
      reservation: { day: '2026-11-29', minute: '2026-11-29T00:00' },
      counters: { requestsToday: 1, tokensToday: 30, requestsThisMinute: 1, tokensThisMinute: 30 },
    });
  });

  it('points a token-per-day refusal to the end of the day', async () => {
    const { limiter, clock, request } = setup();
    const smallDay = request(
      { tpm: 100, tpd: 150 },
      { inputTokens: 0, outputTokens: { fixed: 100 } },
    );
    reservationOf(await limiter.admit(smallDay));
    clock.now += 60_000;

    const refused = await limiter.admit(smallDay);

    expect(refused).toMatchObject({
      admitted: false,
      reason: 'tpd',
      limit: 150,
      used: 100,
      requested: 100,
      retryAfterMs: utcWindows(clock.now).msToDayEnd,
    });
  });

  it('adopts a later minute written by an instance whose clock runs ahead, instead of refusing', async () => {
    const { limiter: behind, clock, request } = setup({ now: START + 59_990 });
    const ahead = new Limiter(table.doc, table.tableName, { now: () => clock.now + 20 });
    reservationOf(await ahead.admit(request({ rpm: 2 })));

    const admission = await behind.admit(request({ rpm: 2 }));

    expect(admission).toMatchObject({
      admitted: true,
      reservation: { minute: '2026-11-28T09:38' },
      counters: { requestsThisMinute: 2 },
    });
  });
});

describe('settlement', () => {
  it('corrects a reservation of 100 tokens to the 30 used, in one call', async () => {
    const { limiter, request } = setup();
    const reservation = reservationOf(
      await limiter.admit(request({}, { inputTokens: 40, outputTokens: { fixed: 60 } })),
    );
    expect(reservation).toMatchObject({ reservedTokens: 100, outputAllowance: 60 });

    const calls = await callsOf(() => limiter.settle(reservation, 30));

    expect(calls).toBe(1);
    expect(await limiter.peek(request({}))).toEqual({
      requestsToday: 1,
      tokensToday: 30,
      requestsThisMinute: 1,
      tokensThisMinute: 30,
    });
  });

  it('settles only the day once the minute of the reservation has ended', async () => {
    const { limiter, clock, request, item } = setup();
    const hundred = request({}, { inputTokens: 40, outputTokens: { fixed: 60 } });
    const old = reservationOf(await limiter.admit(hundred));
    clock.now += 60_000;
    reservationOf(await limiter.admit(hundred));

    await limiter.settle(old, 30);

    expect(await item(old)).toMatchObject({
      mid: '2026-11-28T09:38',
      mr: 1,
      mt: 100,
      rd: 2,
      td: 130,
    });
  });

  it('gives back the request and its tokens on release', async () => {
    const { limiter, request } = setup();
    const onePerMinute = request({ rpm: 1 });
    const reservation = reservationOf(await limiter.admit(onePerMinute));

    await limiter.release(reservation);

    expect(await limiter.peek(onePerMinute)).toEqual({
      requestsToday: 0,
      tokensToday: 0,
      requestsThisMinute: 0,
      tokensThisMinute: 0,
    });
    expect(await limiter.admit(onePerMinute)).toMatchObject({ admitted: true });
  });
});

describe('output allowance', () => {
  it('reserves up to what is left of the TPM for a request without max tokens', async () => {
    const { limiter, request } = setup();

    const first = await limiter.admit(
      request({ tpm: 1000 }, { inputTokens: 100, outputTokens: { upTo: 4096 } }),
    );

    expect(first).toMatchObject({
      admitted: true,
      reservation: { reservedTokens: 1000, outputAllowance: 900 },
    });
  });

  it('shrinks the allowance to the rest of the minute, then refuses when not one token fits', async () => {
    const { limiter, request } = setup();
    await limiter.admit(request({ tpm: 1000 }, { inputTokens: 100, outputTokens: { fixed: 600 } }));
    const byDefault = request({ tpm: 1000 }, { inputTokens: 100, outputTokens: { upTo: 4096 } });

    const shrunk = await limiter.admit(byDefault);
    const refused = await limiter.admit(byDefault);

    expect(shrunk).toMatchObject({ admitted: true, reservation: { outputAllowance: 200 } });
    expect(refused).toMatchObject({
      admitted: false,
      reason: 'tpm',
      limit: 1000,
      used: 1000,
      requested: 101,
    });
  });

  it('shrinks the allowance to the rest of the day', async () => {
    const { limiter, clock, request } = setup();
    const byDefault = request(
      { tpm: 1000, tpd: 1500 },
      { inputTokens: 100, outputTokens: { upTo: 4096 } },
    );
    reservationOf(await limiter.admit(byDefault));
    clock.now += 60_000;

    const rest = await limiter.admit(byDefault);

    expect(rest).toMatchObject({
      admitted: true,
      reservation: { reservedTokens: 500, outputAllowance: 400 },
    });
  });

  it('answers request_too_large without a DynamoDB call when the request exceeds the limit itself', async () => {
    const { limiter, request } = setup();
    const results: Admission[] = [];

    const calls = await callsOf(async () => {
      results.push(
        await limiter.admit(
          request({ tpm: 1000 }, { inputTokens: 100, outputTokens: { fixed: 1000 } }),
        ),
      );
      results.push(
        await limiter.admit(
          request({ tpm: 1000 }, { inputTokens: 1000, outputTokens: { upTo: 10 } }),
        ),
      );
      results.push(
        await limiter.admit(
          request({ rpm: 30_000, tpm: 200 }, { inputTokens: 150, outputTokens: { fixed: 0 } }),
        ),
      );
    });

    expect(calls).toBe(0);
    expect(results).toEqual([
      {
        admitted: false,
        reason: 'request_too_large',
        limitName: 'tpm',
        limit: 1000,
        requested: 1100,
      },
      {
        admitted: false,
        reason: 'request_too_large',
        limitName: 'tpm',
        limit: 1000,
        requested: 1001,
      },
      // Sharded over 2 items: one request must fit one shard's part.
      {
        admitted: false,
        reason: 'request_too_large',
        limitName: 'tpm',
        limit: 100,
        requested: 150,
      },
    ]);
  });
});

describe('DynamoDB calls', () => {
  it('admits in one conditional update in the steady state, and reads only to explain a refusal', async () => {
    const { limiter, request } = setup();
    const twoPerMinute = request({ rpm: 2 });

    const firstOfMinute = await callsOf(() => limiter.admit(twoPerMinute));
    let reservation: Reservation | undefined;
    const steady = await callsOf(async () => {
      reservation = reservationOf(await limiter.admit(twoPerMinute));
    });
    const settle = await callsOf(async () => reservation && limiter.settle(reservation, 5));
    const refusal = await callsOf(() => limiter.admit(twoPerMinute));

    expect({ firstOfMinute, steady, settle, refusal }).toEqual({
      firstOfMinute: 2,
      steady: 1,
      settle: 1,
      refusal: 3,
    });
  });
});

describe('model-based (property)', () => {
  type Op =
    | { kind: 'admit'; inputTokens: number; outputTokens: OutputTokens }
    | { kind: 'settle'; pick: number; share: number }
    | { kind: 'release'; pick: number }
    | { kind: 'advance'; ms: number };

  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('admit' as const),
        inputTokens: fc.integer({ min: 0, max: 60 }),
        outputTokens: fc.oneof(
          fc.record({ fixed: fc.integer({ min: 0, max: 60 }) }),
          fc.record({ upTo: fc.integer({ min: 1, max: 200 }) }),
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('settle' as const),
        pick: fc.nat(),
        share: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.oneof(fc.integer({ min: 0, max: 90_000 }), fc.constant(86_400_000)),
      }),
    },
  );

  const limitsArb: fc.Arbitrary<ModelLimits> = fc
    .record({
      rpm: fc.integer({ min: 1, max: 6 }),
      rpdMore: fc.integer({ min: 0, max: 10 }),
      tpm: fc.integer({ min: 20, max: 300 }),
      tpdMore: fc.integer({ min: 0, max: 400 }),
    })
    .map(({ rpm, rpdMore, tpm, tpdMore }) => ({
      rpm,
      rpd: rpm + rpdMore,
      tpm,
      tpd: tpm + tpdMore,
    }));

  /** Committed (settled actuals) plus outstanding reservations per window, as the limiter should count. */
  class Model {
    private readonly windows = new Map<string, { requests: number; tokens: number }>();
    readonly outstanding: Reservation[] = [];

    private window(id: string) {
      const found = this.windows.get(id) ?? { requests: 0, tokens: 0 };
      this.windows.set(id, found);
      return found;
    }

    counters(nowMs: number): LimitCounters {
      const { day, minute } = utcWindows(nowMs);
      const [d, m] = [this.window(day), this.window(minute)];
      return {
        requestsToday: d.requests,
        tokensToday: d.tokens,
        requestsThisMinute: m.requests,
        tokensThisMinute: m.tokens,
      };
    }

    /** What the limiter must answer: the reason of a refusal, or the output allowance of an admission. */
    decide(
      limits: ModelLimits,
      input: number,
      output: OutputTokens,
      nowMs: number,
    ): string | number {
      const c = this.counters(nowMs);
      const smallest = input + ('fixed' in output ? output.fixed : 1);
      if (smallest > limits.tpm || smallest > limits.tpd) return 'request_too_large';
      if (c.requestsToday + 1 > limits.rpd) return 'rpd';
      if (c.tokensToday + smallest > limits.tpd) return 'tpd';
      if (c.requestsThisMinute + 1 > limits.rpm) return 'rpm';
      if (c.tokensThisMinute + smallest > limits.tpm) return 'tpm';
      if ('fixed' in output) return output.fixed;
      return Math.min(
        output.upTo,
        limits.tpm - c.tokensThisMinute - input,
        limits.tpd - c.tokensToday - input,
      );
    }

    add(r: Reservation, requests: number, tokens: number): void {
      for (const id of [r.day, r.minute]) {
        const w = this.window(id);
        w.requests += requests;
        w.tokens += tokens;
      }
    }
  }

  it('counts exactly what it admitted, within every limit, after every step', async () => {
    const { tableName, doc } = table;
    let run = 0;

    await fc.assert(
      fc.asyncProperty(
        limitsArb,
        fc.array(op, { minLength: 1, maxLength: 25 }),
        async (limits, ops) => {
          run += 1;
          const clock = { now: START };
          const limiter = new Limiter(doc, tableName, { now: () => clock.now });
          const key = { customerId: `cus_model_${run}`, model: MODEL, limits };
          const model = new Model();

          for (const step of ops) {
            if (step.kind === 'admit') {
              const expected = model.decide(limits, step.inputTokens, step.outputTokens, clock.now);
              const admission = await limiter.admit({ ...key, ...step });
              if (admission.admitted) {
                expect(admission.reservation.outputAllowance).toBe(expected);
                model.add(admission.reservation, 1, admission.reservation.reservedTokens);
                model.outstanding.push(admission.reservation);
              } else {
                expect(admission.reason).toBe(expected);
              }
            } else if (step.kind === 'advance') {
              clock.now += step.ms;
            } else {
              const [reservation] = model.outstanding.splice(
                step.pick % Math.max(1, model.outstanding.length),
                1,
              );
              if (!reservation) continue;
              if (step.kind === 'settle') {
                const actual = Math.floor(step.share * reservation.reservedTokens);
                await limiter.settle(reservation, actual);
                model.add(reservation, 0, actual - reservation.reservedTokens);
              } else {
                await limiter.release(reservation);
                model.add(reservation, -1, -reservation.reservedTokens);
              }
            }

            const counters = await limiter.peek(key);
            expect(counters).toEqual(model.counters(clock.now));
            expect(counters.requestsToday).toBeLessThanOrEqual(limits.rpd);
            expect(counters.tokensToday).toBeLessThanOrEqual(limits.tpd);
            expect(counters.requestsThisMinute).toBeLessThanOrEqual(limits.rpm);
            expect(counters.tokensThisMinute).toBeLessThanOrEqual(limits.tpm);
            expect(Math.min(...Object.values(counters))).toBeGreaterThanOrEqual(0);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
