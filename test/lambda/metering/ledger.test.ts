import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import {
  type DeadLetterSink,
  FileDeadLetterSink,
  type LedgerRecord,
  LedgerWriter,
  ledgerRecord,
  parseLedgerRecord,
  replayDeadLetters,
  SqsDeadLetterSink,
} from '../../../lambda/metering/ledger';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const noSleep = () => Promise.resolve();

function record(
  requestId: string,
  overrides: Partial<Parameters<typeof ledgerRecord>[0]> = {},
): LedgerRecord {
  return ledgerRecord({
    requestId,
    customerId: 'cus_1',
    model: 'llama-3.1-8b',
    tier: 'developer',
    inputTokens: 1_000,
    outputTokens: 500,
    prices: { inputMicroUsdPerMillion: 50_000, outputMicroUsdPerMillion: 80_000 },
    status: 'completed',
    startedAt: '2026-03-01T10:00:00.000Z',
    finishedAt: '2026-03-01T10:00:02.000Z',
    ...overrides,
  });
}

/** A dead-letter sink that keeps what it was sent. */
function memorySink(): DeadLetterSink & { records: LedgerRecord[] } {
  const records: LedgerRecord[] = [];
  return { records, send: async (r) => void records.push(r) };
}

describe('ledger (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let doc: DynamoDBDocumentClient;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ tableName, doc } = await newMeteringTable(dynamo));
  });
  afterAll(() => dynamo.stop());

  async function ledgerItemsOfDay(customerId: string, day: string) {
    const { Items = [] } = await doc.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'byCustomerDay',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': `USAGE#${customerId}#${day}` },
      }),
    );
    return Items;
  }

  it('computes the cost from usage and prices, and writes it with one conditional PutItem', async () => {
    const writer = new LedgerWriter(doc, tableName, memorySink());
    const r = record('req_write_once', { customerId: 'cus_once' });
    const before = dynamo.calls();

    const result = await writer.write(r);

    expect(result).toBe('written');
    expect(dynamo.calls() - before).toBe(1);
    expect(r.costMicroUsd).toBe(90); // 1000 × 0.05 + 500 × 0.08
    const { Item } = await doc.send(
      new GetCommand({ TableName: tableName, Key: { pk: 'REQ#req_write_once', sk: 'REQ' } }),
    );
    expect(Item).toMatchObject({
      ...r,
      gsi1pk: 'USAGE#cus_once#2026-03-01',
      gsi1sk: '2026-03-01T10:00:00.000Z#req_write_once',
    });
  });

  it('counts a record replayed 3 times (immediately, after a lost response, much later) once', async () => {
    const writer = new LedgerWriter(doc, tableName, memorySink());
    const r = record('req_replayed', { customerId: 'cus_replayed' });

    const first = await writer.write(r);
    const immediately = await writer.write(r);
    // The first attempt's response lost: the caller retries a write that had succeeded.
    const afterTimeout = await writer.write({ ...r });
    // Much later, from the dead letters, with the same id (content may differ: the first record
    // wins).
    const later = await replayDeadLetters(
      [{ ...r, finishedAt: '2026-03-09T00:00:00.000Z' }],
      writer,
    );

    expect([first, immediately, afterTimeout]).toEqual(['written', 'duplicate', 'duplicate']);
    expect(later).toEqual({ written: 0, duplicate: 1, failed: [] });
    const items = await ledgerItemsOfDay('cus_replayed', '2026-03-01');
    expect(items).toHaveLength(1);
    expect(items[0]?.finishedAt).toBe(r.finishedAt);
  });

  it('answers duplicate when its own retry follows an attempt whose response was lost', async () => {
    // A client whose first call reaches the table but answers with a timeout, as when the response
    // is lost.
    const client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    let calls = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        calls += 1;
        const output = await next(args);
        if (calls === 1)
          throw Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
        return output;
      },
      { step: 'initialize', name: 'loseFirstResponse' },
    );
    const sink = memorySink();
    const writer = new LedgerWriter(createDocumentClient(client), tableName, sink, {
      sleep: noSleep,
    });

    const result = await writer.write(record('req_lost_response', { customerId: 'cus_lost' }));

    expect(result).toBe('duplicate');
    expect(calls).toBe(2);
    expect(sink.records).toEqual([]);
    expect(await ledgerItemsOfDay('cus_lost', '2026-03-01')).toHaveLength(1);
    client.destroy();
  });

  it('dead-letters a record the table keeps refusing, and a later replay puts it exactly once', async () => {
    const sink = memorySink();
    const sleeps: number[] = [];
    const broken = new LedgerWriter(doc, 'no-such-table', sink, {
      attempts: 3,
      baseDelayMs: 10,
      sleep: async (ms) => void sleeps.push(ms),
    });
    const r = record('req_dead', { customerId: 'cus_dead' });

    const result = await broken.write(r);

    expect(result).toBe('dead_lettered');
    expect(sink.records).toEqual([r]);
    expect(sleeps).toHaveLength(2); // 3 attempts, backoff between them
    expect(sleeps[1]).toBeLessThan(20);

    const writer = new LedgerWriter(doc, tableName, memorySink());
    const replays = [
      await replayDeadLetters(sink.records, writer),
      await replayDeadLetters(sink.records, writer),
      await replayDeadLetters(sink.records, writer),
    ];

    expect(replays.map((x) => [x.written, x.duplicate])).toEqual([
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
    expect(await ledgerItemsOfDay('cus_dead', '2026-03-01')).toHaveLength(1);
  });

  it('returns the records a replay could not put, to keep them', async () => {
    const broken = new LedgerWriter(doc, 'no-such-table', memorySink(), { attempts: 1 });
    const r = record('req_still_failing');

    const result = await replayDeadLetters([r], broken);

    expect(result).toEqual({ written: 0, duplicate: 0, failed: [r] });
  });

  it('throws when the dead-letter sink fails too', async () => {
    const failingSink: DeadLetterSink = { send: () => Promise.reject(new Error('disk full')) };
    const broken = new LedgerWriter(doc, 'no-such-table', failingSink, { attempts: 1 });

    await expect(broken.write(record('req_lost'))).rejects.toThrow('disk full');
  });

  describe('file dead-letter sink', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tierline-dlq-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('round-trips records as JSON lines, concurrent sends included', async () => {
      const sink = new FileDeadLetterSink(join(dir, 'ledger-dead-letters.jsonl'));
      const records = Array.from({ length: 20 }, (_, i) =>
        record(`req_file_${i}`, { batch: i % 2 === 0 }),
      );

      await Promise.all(records.map((r) => sink.send(r)));
      const read = await sink.read();

      expect(read).toHaveLength(20);
      expect(new Set(read.map((r) => r.requestId))).toEqual(
        new Set(records.map((r) => r.requestId)),
      );
      expect(read.find((r) => r.requestId === 'req_file_4')).toEqual(records[4]);
      const text = await readFile(sink.path, 'utf8');
      expect(text.trimEnd().split('\n')).toHaveLength(20);
    });

    it('reads no records from a file that does not exist', async () => {
      expect(await new FileDeadLetterSink(join(dir, 'absent.jsonl')).read()).toEqual([]);
    });
  });

  it('sends a dead letter to SQS as the record JSON, which parses back', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const sink = new SqsDeadLetterSink(
      new SQSClient({ region: 'us-east-1' }),
      'https://sqs.test/ledger-dlq',
    );
    const r = record('req_sqs');

    await sink.send(r);

    expect(sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: 'https://sqs.test/ledger-dlq', MessageBody: JSON.stringify(r) },
    ]);
    expect(parseLedgerRecord(JSON.stringify(r))).toEqual(r);
    expect(() => parseLedgerRecord('{"requestId":"x"}')).toThrow('not a ledger record');
    sqs.restore();
  });
});
