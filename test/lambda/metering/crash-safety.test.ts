import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Principal } from '../../../lambda/customers/authenticate';
import {
  ADMISSION_ORDER,
  FINISH_ORDER,
  type MeteringStep,
  RECONCILE_ORDER,
  RELEASE_ORDER,
} from '../../../lambda/metering/crash-safety';
import type { LedgerRecord } from '../../../lambda/metering/ledger';
import { createMetering, type MeteringParts } from '../../../lambda/metering/request-metering';
import { MAX_REQUEST_MS, RECONCILE_MARGIN_MS } from '../../../lambda/metering/reservations';
import { loadConfig } from '../../../lib/config/load';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

/**
 * The orders of lambda/metering/crash-safety.ts, checked against the writes the metering code sends
 * to a real engine (dynalite), and the promise behind them: a process killed after any step of its
 * finish (rule 4) is billed once, and its holds freed, by the reconciler (rule 7).
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-14b';
const T0 = Date.parse('2026-11-28T09:37:10.000Z');
const OVERDUE = T0 + MAX_REQUEST_MS + RECONCILE_MARGIN_MS + 1_000;

/** What a metering write does, read from the command itself (its item and which clause names a hold mark). */
type Write =
  | 'counter hold'
  | 'spend hold'
  | 'ledger'
  | 'spend hold removed'
  | 'counter hold removed'
  | 'index move';
const WRITE_OF: Record<MeteringStep, Write> = {
  'counter hold + record': 'counter hold',
  'spend hold': 'spend hold',
  'ledger record': 'ledger',
  'spend settlement': 'spend hold removed',
  'spend release': 'spend hold removed',
  'counter settlement': 'counter hold removed',
  'counter release': 'counter hold removed',
  'due-index move': 'index move',
};

const HOLD = /^h[A-Za-z0-9_-]{12}$/;

function classify(command: unknown): Write | undefined {
  if (command instanceof PutCommand) {
    return String(command.input.Item?.pk).startsWith('REQ#') ? 'ledger' : undefined;
  }
  if (!(command instanceof UpdateCommand)) return undefined;
  const { Key = {}, UpdateExpression = '', ExpressionAttributeNames = {} } = command.input;
  const pk = String(Key.pk);
  const placeholderOf = (test: (name: string) => boolean) =>
    Object.entries(ExpressionAttributeNames).find(([, name]) => test(name))?.[0];
  const hold = placeholderOf((name) => HOLD.test(name));
  // The clause a placeholder is in: the last keyword before it.
  const clauseOf = (placeholder: string) => {
    const at = UpdateExpression.search(new RegExp(`${placeholder}(?!\\d)`));
    const keywords = [...UpdateExpression.slice(0, at).matchAll(/\b(SET|ADD|REMOVE|DELETE)\b/g)];
    return keywords.at(-1)?.[1];
  };
  const item = pk.startsWith('LIM#') ? 'counter' : pk.startsWith('SPEND#') ? 'spend' : undefined;
  if (!item) return undefined;
  if (hold) return clauseOf(hold) === 'SET' ? `${item} hold` : `${item} hold removed`;
  if (item === 'counter' && placeholderOf((name) => name === 'gsi1pk')) return 'index move';
  return undefined;
}

/**
 * A document client that logs the metering writes it applies, and can "kill the process" after
 * `crash.after` of them: every later one never answers (and never reaches the table).
 */
function recording(doc: DynamoDBDocumentClient) {
  const log: Write[] = [];
  const crash = { after: Number.POSITIVE_INFINITY };
  const client = {
    send: (command: unknown) => {
      const write = classify(command);
      if (!write) return (doc.send as (c: unknown) => Promise<unknown>)(command);
      if (log.length >= crash.after) return new Promise(() => undefined);
      // Logged once applied: a conditional attempt refused (a new minute's first try) wrote
      // nothing.
      return (doc.send as (c: unknown) => Promise<unknown>)(command).then((result) => {
        log.push(write);
        return result;
      });
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, log, crash };
}

let dynamo: LocalDynamo;
let tableName: string;
let doc: DynamoDBDocumentClient;
const clock = { now: T0 };
const now = () => new Date(clock.now);

function meteringWith(client: DynamoDBDocumentClient): MeteringParts {
  return createMetering({
    config,
    doc: client,
    tableName,
    deadLetters: { send: async () => undefined },
    alerts: { publish: async () => undefined },
    now,
  });
}

beforeAll(async () => {
  dynamo = await startDynalite();
  ({ tableName, doc } = await newMeteringTable(dynamo));
});
afterAll(() => dynamo.stop());
beforeEach(() => {
  clock.now = T0;
});

let customers = 0;
/** A paying customer (developer tier: every request holds spend). */
function payingCustomer(): Principal {
  customers += 1;
  return {
    kind: 'project_key',
    projectId: 'proj_test',
    customerId: `cus_crash_${customers}`,
    tier: 'developer',
    usageIdentifierKey: `key_${customers}`,
  };
}

const request = (who: Principal, requestId: string) => ({
  requestId,
  principal: who,
  model: MODEL,
  inputTokens: 100,
  outputTokens: { fixed: 50 },
});

/** The customer's month and day as the items say: holds left, spend, counters, ledger record. */
async function stateOf(who: Principal, requestId: string) {
  const get = async (pk: string, sk: string) =>
    (
      await doc.send(
        new GetCommand({ TableName: tableName, Key: { pk, sk }, ConsistentRead: true }),
      )
    ).Item ?? {};
  const counters = await get(`LIM#${who.customerId}#${MODEL}#2026-11-28#0`, 'LIM');
  const spend = await get(`SPEND#${who.customerId}#2026-11`, 'SPEND');
  const ledger = (await get(`REQ#${requestId}`, 'REQ')) as Partial<LedgerRecord>;
  const marks = (item: Record<string, unknown>) =>
    Object.keys(item).filter((name) => /^[hr][\w-]{12}$/.test(name));
  return {
    marks: [...marks(counters), ...marks(spend)],
    requestsToday: counters.rd,
    tokensToday: counters.td,
    reservedMicroUsd: spend.reservedMicroUsd,
    committedMicroUsd: spend.committedMicroUsd,
    ledger,
  };
}

describe('the metering core follows its crash-safety orders (crash-safety.ts)', () => {
  it('rule 2: an admission holds the counters (with the record), then the spend', async () => {
    const { client, log } = recording(doc);
    const admitted = await meteringWith(client).metering.admit(
      request(payingCustomer(), 'req_crash_admit'),
    );
    expect(log).toEqual(ADMISSION_ORDER.map((step) => WRITE_OF[step]));
    await admitted.release();
  });

  it('rule 4: a finish writes the ledger record before it settles any hold, and the counter hold last', async () => {
    const { client, log } = recording(doc);
    const admitted = await meteringWith(client).metering.admit(
      request(payingCustomer(), 'req_crash_finish'),
    );
    log.length = 0;
    await admitted.finish({ status: 'completed', inputTokens: 100, outputTokens: 20 });
    expect(log).toEqual(FINISH_ORDER.map((step) => WRITE_OF[step]));
  });

  it('rule 6: a release gives back the spend hold, then the counter hold', async () => {
    const { client, log } = recording(doc);
    const admitted = await meteringWith(client).metering.admit(
      request(payingCustomer(), 'req_crash_release'),
    );
    log.length = 0;
    await admitted.release();
    expect(log).toEqual(RELEASE_ORDER.map((step) => WRITE_OF[step]));
  });

  it('rule 7: the reconciler bills, settles the spend, settles the counters, then moves the index entry', async () => {
    const { client, log } = recording(doc);
    const parts = meteringWith(client);
    // The items the earlier tests settled keep their due-index entry until a sweep finds them
    // empty: sweep first.
    clock.now = OVERDUE;
    await meteringWith(doc).reconciler.run();
    clock.now = T0;
    // The process dies right after its admission: nothing more of it reaches the table.
    const dying = recording(doc);
    await meteringWith(dying.client).metering.admit(
      request(payingCustomer(), 'req_crash_reconciled'),
    );
    clock.now = OVERDUE;
    expect(await parts.reconciler.run()).toMatchObject({ found: 1, billed: 1, failed: [] });
    expect(log).toEqual(RECONCILE_ORDER.map((step) => WRITE_OF[step]));
  });

  // Rules 4, 5 and 7 together: whichever step of the finish the process dies at, the reconciler
  // leaves one ledger record and the month's spend and the day's counters billing exactly it, with
  // no hold left.
  it.each(FINISH_ORDER.map((step, index) => [index, step] as const))(
    'rules 4, 5, 7: a process killed after %i finish steps (before "%s") is billed once',
    async (stepsDone) => {
      const who = payingCustomer();
      const requestId = `req_crash_at_${stepsDone}`;
      const dying = recording(doc);
      const admitted = await meteringWith(dying.client).metering.admit(request(who, requestId));
      dying.crash.after = dying.log.length + stepsDone;
      void admitted.finish({ status: 'completed', inputTokens: 100, outputTokens: 20 });
      for (let i = 0; i < 200 && dying.log.length < dying.crash.after; i++)
        await new Promise((r) => setTimeout(r, 5));
      expect(dying.log.length).toBe(dying.crash.after);

      clock.now = OVERDUE;
      expect(await meteringWith(doc).reconciler.run()).toMatchObject({ found: 1, failed: [] });
      const after = await stateOf(who, requestId);
      // Killed before its ledger record, the request is billed its input as counted at admission
      // (rule 7); after it, the ledger record it wrote is the bill (rule 5).
      const billed =
        stepsDone === 0
          ? { status: 'reconciled', outputTokens: 0 }
          : { status: 'completed', outputTokens: 20 };
      expect(after.ledger).toMatchObject({ ...billed, inputTokens: 100 });
      expect(after).toMatchObject({
        marks: [],
        requestsToday: 1,
        tokensToday: 100 + billed.outputTokens,
        reservedMicroUsd: 0,
        committedMicroUsd: after.ledger.costMicroUsd,
      });
    },
  );
});

/**
 * A client whose first spend hold applies but whose answer is lost (it throws), and whose spend
 * releases all fail: the request cannot know whether its spend mark is there.
 */
function losingSpendAnswers(doc: DynamoDBDocumentClient) {
  const sent: Write[] = [];
  let holdsLost = 0;
  const client = {
    send: async (command: unknown) => {
      const write = classify(command);
      const send = (doc.send as (c: unknown) => Promise<unknown>).bind(doc);
      if (write) sent.push(write);
      if (write === 'spend hold removed') throw new Error('spend release refused');
      if (write === 'spend hold' && holdsLost === 0) {
        holdsLost += 1;
        await send(command);
        throw new Error('answer lost');
      }
      return send(command);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

describe('rule 6 when the spend mark cannot be given back', () => {
  const marksOf = async (pk: string) => {
    const { Item = {} } = await doc.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk, sk: pk.split('#')[0] },
        ConsistentRead: true,
      }),
    );
    return Object.keys(Item).filter((name) => /^[hr][\w-]{12}$/.test(name));
  };

  it.each([
    ['the organization', undefined],
    ['a project', 'proj_spend'],
  ] as const)(
    'a lost reservation on %s month keeps the counter hold for the reconciler',
    async (_, projectId) => {
      const who: Principal = {
        ...payingCustomer(),
        ...(projectId ? { projectId, projectSpendLimitMicroUsd: 50_000_000 } : {}),
      };
      const spendItem = projectId
        ? `SPEND#${who.customerId}@${projectId}#2026-11`
        : `SPEND#${who.customerId}#2026-11`;
      const counterItem = `LIM#${who.customerId}#${MODEL}#2026-11-28#0`;
      const { client, sent } = losingSpendAnswers(doc);
      await expect(
        meteringWith(client).metering.admit(request(who, `req_lost_${projectId ?? 'org'}`)),
      ).rejects.toThrow('answer lost');
      // The release was tried and failed, so the counter hold (and its record) was never given back.
      expect(sent).toContain('spend hold removed');
      expect(sent).not.toContain('counter hold removed');
      expect(await marksOf(spendItem)).toHaveLength(1);
      expect(await marksOf(counterItem)).toHaveLength(2);

      clock.now = OVERDUE;
      expect(await meteringWith(doc).reconciler.run()).toMatchObject({ failed: [] });
      expect(await marksOf(spendItem)).toEqual([]);
      expect(await marksOf(counterItem)).toEqual([]);
    },
  );
});
