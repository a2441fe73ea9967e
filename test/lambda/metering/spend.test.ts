import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  type SpendAlert,
  type SpendReservation,
  SpendTracker,
} from '../../../lambda/metering/spend';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const THRESHOLDS = [50, 75, 90];

/** An alert publisher that keeps what it published. */
function recordingPublisher() {
  const alerts: SpendAlert[] = [];
  return { alerts, publish: async (alert: SpendAlert) => void alerts.push(alert) };
}

function reservationOf(result: Awaited<ReturnType<SpendTracker['reserve']>>): SpendReservation {
  if (!result.admitted) throw new Error('expected the request to be admitted');
  return result.reservation;
}

describe('spend tracker (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let doc: DynamoDBDocumentClient;
  let now: Date;
  const clock = () => now;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ tableName, doc } = await newMeteringTable(dynamo));
  });
  afterAll(() => dynamo.stop());
  beforeEach(() => {
    now = new Date('2026-03-15T12:00:00.000Z');
  });

  function tracker(publisher = recordingPublisher()) {
    return { spend: new SpendTracker(doc, tableName, publisher, clock), publisher };
  }

  async function spendItem(customerId: string, month: string) {
    const { Item } = await doc.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: `SPEND#${customerId}#${month}`, sk: 'SPEND' },
      }),
    );
    return Item;
  }

  it('admits only the concurrent requests that fit under the limit, even at their maximum cost', async () => {
    const { spend } = tracker();

    const results = await Promise.all(
      Array.from({ length: 25 }, () => spend.reserve('cus_race', 1_000, 90)),
    );

    expect(results.filter((r) => r.admitted)).toHaveLength(11); // 11 × 90 = 990 <= 1000 < 12 × 90
    expect(await spendItem('cus_race', '2026-03')).toMatchObject({
      usedMicroUsd: 990,
      reservedMicroUsd: 990,
    });
    expect(results.find((r) => !r.admitted)).toEqual({
      admitted: false,
      spentMicroUsd: 0,
      reservedMicroUsd: 990,
      limitMicroUsd: 1_000,
    });
  });

  it('admits with one call, settles with one call, and settling frees the unused reservation', async () => {
    const { spend } = tracker();
    const before = dynamo.calls();

    const reservation = reservationOf(await spend.reserve('cus_settle', 1_000, 800));
    const afterReserve = dynamo.calls();
    const settled = await spend.settle(reservation, 300);
    const afterSettle = dynamo.calls();
    const next = await spend.reserve('cus_settle', 1_000, 700);

    expect([afterReserve - before, afterSettle - afterReserve]).toEqual([1, 1]);
    expect(settled).toEqual({
      month: '2026-03',
      applied: true,
      committedMicroUsd: 300,
      published: [],
      failed: [],
      mailed: [],
    });
    expect(next.admitted).toBe(true);
    expect(await spendItem('cus_settle', '2026-03')).toMatchObject({
      committedMicroUsd: 300,
      reservedMicroUsd: 700,
      usedMicroUsd: 1_000,
    });
  });

  it('blocks at the limit, and refuses a request that alone exceeds the limit', async () => {
    const { spend } = tracker();
    await spend.settle(reservationOf(await spend.reserve('cus_full', 1_000, 1_000)), 1_000);

    const atLimit = await spend.reserve('cus_full', 1_000, 1);
    const free = await spend.reserve('cus_full', 1_000, 0);
    const tooBig = await spend.reserve('cus_empty', 1_000, 1_001);

    expect(atLimit).toEqual({
      admitted: false,
      spentMicroUsd: 1_000,
      reservedMicroUsd: 0,
      limitMicroUsd: 1_000,
    });
    expect(free.admitted).toBe(true);
    expect(tooBig).toEqual({
      admitted: false,
      spentMicroUsd: 0,
      reservedMicroUsd: 0,
      limitMicroUsd: 1_000,
    });
  });

  it('without a limit, still reserves and commits (one call each), so the spend is known when a limit comes', async () => {
    const { spend } = tracker();
    const before = dynamo.calls();

    const result = await spend.reserve('cus_nolimit', undefined, 5_000_000);
    const afterReserve = dynamo.calls();
    const settled = await spend.settle(reservationOf(result), 1_234, THRESHOLDS);
    const afterSettle = dynamo.calls();

    expect([afterReserve - before, afterSettle - afterReserve]).toEqual([1, 1]);
    expect(settled.committedMicroUsd).toBe(1_234);
    expect(await spend.getMonth('cus_nolimit')).toEqual({
      month: '2026-03',
      spentMicroUsd: 1_234,
      reservedMicroUsd: 0,
    });
  });

  // Issue 8, row 1: $0.059 spent without a limit, then the operator sets $0.02.
  it('holds a limit set after unlimited spend: the month item already knows the spend', async () => {
    const { spend } = tracker();
    for (const cost of [20_000, 20_000, 19_000]) {
      await spend.settle(reservationOf(await spend.reserve('cus_row1', undefined, 30_000)), cost);
    }

    await spend.setLimit('cus_row1', 20_000);
    // The authorizer cache still says "no limit" for the next requests: the month item decides.
    const staleContext = await spend.reserve('cus_row1', undefined, 1);

    expect(staleContext).toEqual({
      admitted: false,
      spentMicroUsd: 59_000,
      reservedMicroUsd: 0,
      limitMicroUsd: 20_000,
    });
  });

  // Issue 8, row 2: a limit set, then requests within the authorizer cache TTL (their context has
  // no limit).
  it('holds a new limit for requests whose authorizer context predates it, in flight ones counted', async () => {
    const { spend } = tracker();
    const inFlight = reservationOf(await spend.reserve('cus_row2', undefined, 6_000));

    await spend.setLimit('cus_row2', 20_000);
    const admitted: SpendReservation[] = [];
    for (let i = 0; i < 9; i++) {
      const result = await spend.reserve('cus_row2', undefined, 6_000);
      if (result.admitted) admitted.push(result.reservation);
    }
    await Promise.all([inFlight, ...admitted].map((r) => spend.settle(r, 6_000)));

    // 20,000 / 6,000: the one in flight and two more fit; the limit is passed by nothing.
    expect(admitted).toHaveLength(2);
    expect((await spend.getMonth('cus_row2')).spentMicroUsd).toBe(18_000);
  });

  it('applies a lowered, raised or removed limit to the next request, and seeds a new month from the context', async () => {
    const { spend } = tracker();
    await spend.settle(reservationOf(await spend.reserve('cus_change', 100_000, 10_000)), 10_000);

    await spend.setLimit('cus_change', 5_000);
    const lowered = await spend.reserve('cus_change', 100_000, 1);
    await spend.setLimit('cus_change', 12_000);
    const raised = await spend.reserve('cus_change', 5_000, 2_000);
    const overRaised = await spend.reserve('cus_change', 5_000, 1);
    await spend.setLimit('cus_change', undefined);
    const removed = await spend.reserve('cus_change', 5_000, 1_000_000);
    now = new Date('2026-05-01T00:00:00.000Z'); // a month setLimit did not write: the context seeds it
    const seeded = await spend.reserve('cus_change', 500, 501);

    expect([lowered.admitted, raised.admitted, overRaised.admitted, removed.admitted]).toEqual([
      false,
      true,
      false,
      true,
    ]);
    expect(seeded).toMatchObject({ admitted: false, limitMicroUsd: 500 });
  });

  it('writes a limit set at the end of a month into the next month too', async () => {
    const { spend } = tracker();
    now = new Date('2026-03-31T23:59:30.000Z');
    await spend.setLimit('cus_monthend', 1_000);

    now = new Date('2026-04-01T00:00:10.000Z');
    // The authorizer context (cached before the limit) has none: the next month's item has it
    // already.
    const refused = await spend.reserve('cus_monthend', undefined, 1_001);

    expect(refused).toMatchObject({ admitted: false, limitMicroUsd: 1_000 });
  });

  it('publishes each threshold once, in order, even when crossed again', async () => {
    const { spend, publisher } = tracker();
    const spendOf = async (cost: number) =>
      spend.settle(reservationOf(await spend.reserve('cus_alerts', 1_000, cost)), cost, THRESHOLDS);

    const below = await spendOf(499);
    const at50 = await spendOf(1); // exactly 50%
    const past75And90 = await spendOf(450); // 950: crosses 75 and 90 at once
    const again = await spendOf(10);

    expect([below.published, at50.published, past75And90.published, again.published]).toEqual([
      [],
      [50],
      [75, 90],
      [],
    ]);
    expect(publisher.alerts).toEqual([
      {
        customerId: 'cus_alerts',
        month: '2026-03',
        thresholdPercent: 50,
        spentMicroUsd: 500,
        limitMicroUsd: 1_000,
      },
      {
        customerId: 'cus_alerts',
        month: '2026-03',
        thresholdPercent: 75,
        spentMicroUsd: 950,
        limitMicroUsd: 1_000,
      },
      {
        customerId: 'cus_alerts',
        month: '2026-03',
        thresholdPercent: 90,
        spentMicroUsd: 950,
        limitMicroUsd: 1_000,
      },
    ]);
  });

  it('publishes each threshold once when many settles cross it concurrently', async () => {
    const { spend, publisher } = tracker();
    const reservations = await Promise.all(
      Array.from({ length: 20 }, async () =>
        reservationOf(await spend.reserve('cus_concurrent', 10_000, 500)),
      ),
    );

    const results = await Promise.all(reservations.map((r) => spend.settle(r, 500, THRESHOLDS)));

    expect(publisher.alerts.map((a) => a.thresholdPercent).sort((a, b) => a - b)).toEqual([
      50, 75, 90,
    ]);
    expect(results.flatMap((r) => r.published).sort((a, b) => a - b)).toEqual([50, 75, 90]);
    expect((await spend.getMonth('cus_concurrent')).spentMicroUsd).toBe(10_000);
  });

  it('releases the mark of an alert that failed to publish, so a later settle publishes it', async () => {
    let failing = true;
    const publisher = recordingPublisher();
    const { spend } = tracker({
      alerts: publisher.alerts,
      publish: (alert) =>
        failing ? Promise.reject(new Error('eventbridge down')) : publisher.publish(alert),
    });

    const first = await spend.settle(
      reservationOf(await spend.reserve('cus_retry', 100, 60)),
      60,
      THRESHOLDS,
    );
    failing = false;
    const second = await spend.settle(
      reservationOf(await spend.reserve('cus_retry', 100, 1)),
      1,
      THRESHOLDS,
    );

    expect(first.failed.map((f) => f.thresholdPercent)).toEqual([50]);
    expect(second.published).toEqual([50]);
    expect(publisher.alerts).toHaveLength(1);
  });

  it('starts a new month at 0 and alerts again; a request settles in the month it was admitted in', async () => {
    const { spend, publisher } = tracker();
    now = new Date('2026-03-31T23:59:59.999Z');
    await spend.settle(reservationOf(await spend.reserve('cus_month', 100, 60)), 60, THRESHOLDS);
    const lateReservation = reservationOf(await spend.reserve('cus_month', 100, 10));

    now = new Date('2026-04-01T00:00:00.000Z');
    const fresh = await spend.getMonth('cus_month');
    await spend.settle(lateReservation, 10, THRESHOLDS); // admitted in March: counts in March
    await spend.settle(reservationOf(await spend.reserve('cus_month', 100, 60)), 60, THRESHOLDS);

    expect(fresh).toEqual({ month: '2026-04', spentMicroUsd: 0, reservedMicroUsd: 0 });
    expect(await spend.getMonth('cus_month')).toEqual({
      month: '2026-04',
      spentMicroUsd: 60,
      reservedMicroUsd: 0,
      limitMicroUsd: 100,
    });
    expect(await spendItem('cus_month', '2026-03')).toMatchObject({
      committedMicroUsd: 70,
      reservedMicroUsd: 0,
    });
    expect(publisher.alerts.map((a) => [a.month, a.thresholdPercent])).toEqual([
      ['2026-03', 50],
      ['2026-04', 50],
    ]);
  });
});
