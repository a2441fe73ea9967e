import { invoiceDecision } from '../../../lambda/billing/thresholds';
import {
  aggregateLines,
  hourOf,
  usageIdentifier,
  usageKind,
} from '../../../lambda/billing/usage-lines';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';

const now = new Date('2026-12-07T05:00:00.000Z');
const usd = (amount: number) => Math.round(amount * 1_000_000);

describe("Groq's progressive thresholds", () => {
  it.each([
    // invoiced so far, not yet invoiced, the cut (or none)
    [0, 0.49, undefined],
    [0, 0.99, undefined],
    [0, 1, 'threshold:1'],
    [0, 37, 'threshold:1'],
    [1.2, 8.79, undefined],
    [1.2, 8.8, 'threshold:10'],
    [10, 89.99, undefined],
    [10, 90, 'threshold:100'],
    [100, 400, 'threshold:500'],
    [500, 500, 'threshold:1000'],
    // Past $1,000: monthly in arrears, named by the month that ended; never under $0.50.
    [1000, 0.49, undefined],
    [1000, 0.5, 'monthly:2026-11'],
    [25_000, 3000, 'monthly:2026-11'],
  ])('invoiced $%d, uninvoiced $%d -> %s', (invoiced, uninvoiced, reason) => {
    const decision = invoiceDecision({
      invoicedMicroUsd: usd(invoiced),
      uninvoicedMicroUsd: usd(uninvoiced),
      now,
    });
    expect(decision?.reason).toBe(reason);
  });

  it('names each cut once: a threshold by its amount, a month by the month', () => {
    expect(invoiceDecision({ invoicedMicroUsd: 0, uninvoicedMicroUsd: usd(2), now })?.key).toBe(
      'threshold-1',
    );
    expect(
      invoiceDecision({
        invoicedMicroUsd: usd(2000),
        uninvoicedMicroUsd: usd(2),
        now: new Date('2027-01-01T00:30:00.000Z'),
      })?.key,
    ).toBe('monthly-2026-12');
  });
});

describe('usage lines', () => {
  it('tells the kinds apart: training, batch, fine-tuned, online', () => {
    expect(usageKind({ model: 'fine-tuning:llama-3.1-8b-instant' })).toBe('training');
    expect(usageKind({ model: 'ft:llama-3.1-8b-instant:org:x', batch: true })).toBe('batch');
    expect(usageKind({ model: 'ft:llama-3.1-8b-instant:org:x' })).toBe('fine-tuned');
    expect(usageKind({ model: 'llama-3.1-8b-instant' })).toBe('online');
  });

  it('sums records per project, kind and model, exactly, the project `default` when none', () => {
    const base = {
      customerId: 'cus_a',
      startedAt: '2026-12-07T05:10:00.000Z',
      tier: 'developer' as const,
    };
    const lines = aggregateLines([
      { ...base, requestId: 'a', model: 'm', costMicroUsd: 1 },
      { ...base, requestId: 'b', model: 'm', costMicroUsd: 2 },
      { ...base, requestId: 'c', model: 'm', costMicroUsd: 4, projectId: 'proj_b' },
      { ...base, requestId: 'd', model: 'm', costMicroUsd: 8, batch: true },
    ]);
    expect([...lines.entries()]).toEqual([
      [
        'default#online#m',
        { projectId: 'default', model: 'm', kind: 'online', costMicroUsd: 3, requests: 2 },
      ],
      [
        'proj_b#online#m',
        { projectId: 'proj_b', model: 'm', kind: 'online', costMicroUsd: 4, requests: 1 },
      ],
      [
        'default#batch#m',
        { projectId: 'default', model: 'm', kind: 'batch', costMicroUsd: 8, requests: 1 },
      ],
    ]);
  });

  it("bills the default project's records as `default` whether they name it or not", () => {
    const base = {
      customerId: 'cus_a',
      startedAt: '2026-12-07T05:10:00.000Z',
      tier: 'developer' as const,
      model: 'm',
    };
    // The hour of an upgrade: a record written before projects, one after, one of another org's
    // default project (not this organization's, so not `default`).
    const lines = aggregateLines([
      { ...base, requestId: 'a', costMicroUsd: 1 },
      { ...base, requestId: 'b', costMicroUsd: 2, projectId: defaultProjectId('cus_a') },
      { ...base, requestId: 'c', costMicroUsd: 4, projectId: defaultProjectId('cus_b') },
    ]);
    expect([...lines.keys()]).toEqual([
      'default#online#m',
      `${defaultProjectId('cus_b')}#online#m`,
    ]);
    expect(lines.get('default#online#m')).toMatchObject({ costMicroUsd: 3, requests: 2 });
  });

  it("gives deterministic identifiers within Stripe's 100 characters", () => {
    const line = { projectId: 'default', kind: 'online' as const, model: 'x'.repeat(300) };
    const a = usageIdentifier('cus_a', '2026-12-07T05:00:00.000Z', line, 0);
    expect(a).toBe(usageIdentifier('cus_a', '2026-12-07T05:00:00.000Z', line, 0));
    expect(a).not.toBe(usageIdentifier('cus_a', '2026-12-07T05:00:00.000Z', line, 1));
    expect(a).not.toBe(usageIdentifier('cus_b', '2026-12-07T05:00:00.000Z', line, 0));
    expect(a.length).toBeLessThanOrEqual(100);
    expect(hourOf('2026-12-07T05:59:59.999Z')).toBe('2026-12-07T05:00:00.000Z');
  });
});
