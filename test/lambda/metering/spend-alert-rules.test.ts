import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { projectScope } from '../../../lambda/customers/project-limits';
import { type SpendReservation, SpendTracker } from '../../../lambda/metering/spend';
import { type SpendAlertMail, SpendAlertRules } from '../../../lambda/metering/spend-alert-rules';
import type { DocumentClient } from '../../../lambda/storage/document-client';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

/**
 * The customers' own spend alerts against dynalite: each fires once a month per threshold under
 * concurrency and retries, a failed e-mail is sent by the next settle, and a settle that crosses
 * nothing costs no more DynamoDB calls than before (the thresholds ride on the month item).
 */
describe('spend alert rules (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let doc: DynamoDBDocumentClient;
  let now: Date;
  const clock = () => now;
  let customerSeq = 0;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ tableName, doc } = await newMeteringTable(dynamo));
  });
  afterAll(() => dynamo.stop());
  beforeEach(() => {
    now = new Date('2026-03-15T12:00:00.000Z');
  });

  /** A tracker with alert rules on a document client that counts its calls, and the mail sent. */
  function setup(options: { failMail?: () => boolean } = {}) {
    const calls: string[] = [];
    const counted = {
      send: (command: { constructor: { name: string } }) => {
        calls.push(command.constructor.name);
        return (doc.send as (c: unknown) => Promise<unknown>)(command);
      },
    } as unknown as DocumentClient;
    const mail: SpendAlertMail[] = [];
    const mailer = {
      send: async (message: SpendAlertMail) => {
        if (options.failMail?.()) throw new Error('mail server down');
        mail.push(message);
      },
    };
    const rules = new SpendAlertRules(counted, tableName, mailer, clock);
    const spend = new SpendTracker(counted, tableName, { publish: async () => {} }, clock, rules);
    customerSeq += 1;
    return { calls, mail, rules, spend, customerId: `cus_alerts${customerSeq}` };
  }

  const alertAt = (cents: number, recipients = ['ops@example.com']) => ({
    kind: 'create' as const,
    rule: { thresholdAmount: cents, recipients, subjectPrefix: '[acme]' },
  });

  /** Settles a request of `costMicroUsd` (reserve, then settle at that cost). */
  async function spendOnce(spend: SpendTracker, scope: string, costMicroUsd: number) {
    const reserved = await spend.reserve(scope, undefined, costMicroUsd);
    if (!reserved.admitted) throw new Error('expected admission');
    return spend.settle(reserved.reservation as SpendReservation, costMicroUsd);
  }

  it('two concurrent requests crossing a threshold send one e-mail, to every recipient', async () => {
    const { spend, rules, mail, customerId } = setup();
    const alert = await rules.change(customerId, alertAt(100, ['a@example.com', 'b@example.com']));
    // $0.90 spent, then two requests of $0.10 at once: both settles see >= $1.00.
    await spendOnce(spend, customerId, 900_000);
    const [first, second] = await Promise.all([
      spend.reserve(customerId, undefined, 100_000),
      spend.reserve(customerId, undefined, 100_000),
    ]);
    if (!first?.admitted || !second?.admitted) throw new Error('expected admission');
    const settled = await Promise.all([
      spend.settle(first.reservation, 100_000),
      spend.settle(second.reservation, 100_000),
    ]);
    expect(mail).toHaveLength(1);
    expect(mail[0]?.to).toEqual(['a@example.com', 'b@example.com']);
    expect(mail[0]?.alertId).toBe(alert?.id);
    expect(mail[0]?.subject).toBe('[acme] Tierline spend alert: $1.00 reached in 2026-03');
    // The settle whose mark landed tells its own total: $1.00 or $1.10.
    expect(mail[0]?.text).toMatch(
      new RegExp(`^Organization ${customerId} has spent \\$1\\.[01]0 in 2026-03 \\(UTC\\)`),
    );
    expect(settled.flatMap((s) => s.mailed)).toEqual([alert?.id]);
  });

  it('ten concurrent settles past three thresholds send each alert exactly once', async () => {
    const { spend, rules, mail, customerId } = setup();
    for (const cents of [10, 20, 30]) await rules.change(customerId, alertAt(cents));
    await Promise.all(Array.from({ length: 10 }, () => spendOnce(spend, customerId, 40_000)));
    expect(mail.map((m) => m.subject).sort()).toEqual([
      '[acme] Tierline spend alert: $0.10 reached in 2026-03',
      '[acme] Tierline spend alert: $0.20 reached in 2026-03',
      '[acme] Tierline spend alert: $0.30 reached in 2026-03',
    ]);
    // Later spend the same month sends nothing again.
    await spendOnce(spend, customerId, 40_000);
    expect(mail).toHaveLength(3);
  });

  it('a settle that crosses nothing makes the one UpdateItem it made before alerts existed', async () => {
    const { spend, rules, calls, customerId } = setup();
    await rules.change(customerId, alertAt(5_000));
    const reserved = await spend.reserve(customerId, undefined, 1_000);
    if (!reserved.admitted) throw new Error('expected admission');
    calls.length = 0;
    await spend.settle(reserved.reservation, 1_000);
    expect(calls).toEqual(['UpdateCommand']);
  });

  it('a month the rules were not written on reads them once, at its first settle', async () => {
    const { spend, rules, calls, mail, customerId } = setup();
    await rules.change(customerId, alertAt(1));
    now = new Date('2026-05-02T00:00:00.000Z'); // two months on: no item carries the rules
    calls.length = 0;
    await spendOnce(spend, customerId, 20_000);
    // One read: the rules, seeded on the month and giving the recipients.
    expect(calls.filter((c) => c === 'GetCommand')).toHaveLength(1);
    expect(mail.map((m) => m.subject)).toEqual([
      '[acme] Tierline spend alert: $0.01 reached in 2026-05',
    ]);
    calls.length = 0;
    await spendOnce(spend, customerId, 20_000);
    expect(calls).toEqual(['UpdateCommand', 'UpdateCommand']); // reserve, settle
    expect(mail).toHaveLength(1);
  });

  it('an organization without alerts reads once a month, then never', async () => {
    const { spend, calls, mail, customerId } = setup();
    await spendOnce(spend, customerId, 5_000);
    calls.length = 0;
    await spendOnce(spend, customerId, 5_000);
    expect(calls).toEqual(['UpdateCommand', 'UpdateCommand']);
    expect(mail).toEqual([]);
  });

  it('a failed e-mail takes its mark back: the next settle sends it, once', async () => {
    let failing = true;
    const { spend, rules, mail, customerId } = setup({ failMail: () => failing });
    await rules.change(customerId, alertAt(1));
    const first = await spendOnce(spend, customerId, 20_000);
    expect(first.mailed).toEqual([]);
    expect(String(first.mailFailure)).toContain('mail server down');
    failing = false;
    await spendOnce(spend, customerId, 0);
    await spendOnce(spend, customerId, 1_000);
    expect(mail).toHaveLength(1);
  });

  it('an alert moved higher fires again at its new threshold; a deleted one never', async () => {
    const { spend, rules, mail, customerId } = setup();
    const moved = await rules.change(customerId, alertAt(1));
    const deleted = await rules.change(customerId, alertAt(3));
    await spendOnce(spend, customerId, 20_000);
    expect(mail).toHaveLength(1);
    await rules.change(customerId, { kind: 'delete', id: deleted?.id ?? '' });
    await rules.change(customerId, {
      kind: 'update',
      id: moved?.id ?? '',
      rule: { thresholdAmount: 4, recipients: ['x@example.com'], subjectPrefix: null },
    });
    await spendOnce(spend, customerId, 30_000);
    expect(mail.map((m) => m.subject)).toEqual([
      '[acme] Tierline spend alert: $0.01 reached in 2026-03',
      'Tierline spend alert: $0.04 reached in 2026-03',
    ]);
    expect(await rules.list(customerId)).toHaveLength(1);
  });

  it("a project's alerts fire on the project's month only", async () => {
    const { spend, rules, mail, customerId } = setup();
    const project = projectScope(customerId, 'proj_a');
    await rules.change(project, alertAt(1));
    await spendOnce(spend, customerId, 50_000);
    expect(mail).toEqual([]);
    await spendOnce(spend, project, 20_000);
    expect(mail).toHaveLength(1);
    expect(mail[0]?.text).toContain(`Project proj_a of organization ${customerId}`);
  });

  it('a $0 alert waits for the first spend', async () => {
    const { spend, rules, mail, customerId } = setup();
    await rules.change(customerId, alertAt(0));
    const reserved = await spend.reserve(customerId, undefined, 5_000);
    if (!reserved.admitted) throw new Error('expected admission');
    await spend.settle(reserved.reservation, 0); // released: nothing spent
    expect(mail).toEqual([]);
    await spendOnce(spend, customerId, 1);
    expect(mail.map((m) => m.subject)).toEqual([
      '[acme] Tierline spend alert: $0.00 reached in 2026-03',
    ]);
  });

  it('concurrent changes keep every alert (versioned writes)', async () => {
    const { rules, customerId } = setup();
    await Promise.all(Array.from({ length: 8 }, (_, i) => rules.change(customerId, alertAt(i))));
    expect(await rules.list(customerId)).toHaveLength(8);
  });
});
