import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { FileDeadLetterSource, SqsDeadLetterSource } from '../../cli/dead-letters';
import { Operator } from '../../cli/operator';
import { type LedgerRecord, LedgerWriter, ledgerRecord } from '../../lambda/metering/ledger';
import { loadConfig } from '../../lib/config/load';
import {
  type LocalDynamo,
  newCustomersTable,
  newMeteringTable,
  startDynalite,
} from '../support/dynalite';

const record = (requestId: string): LedgerRecord =>
  ledgerRecord({
    requestId,
    customerId: 'cus_1',
    model: 'qwen3-8b',
    tier: 'developer',
    inputTokens: 10,
    outputTokens: 20,
    prices: { inputMicroUsdPerMillion: 50_000, outputMicroUsdPerMillion: 80_000 },
    status: 'completed',
    startedAt: '2026-11-28T10:00:00.000Z',
    finishedAt: '2026-11-28T10:00:01.000Z',
  });

describe('usage replay-dead-letters', () => {
  let dynamo: LocalDynamo;
  const tempDir = () => mkdtempSync(path.join(tmpdir(), 'tierline-dl-'));
  const setAsideIn = (dir: string) => path.join(dir, 'set-aside.jsonl');

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.stop());

  async function operatorWith(deadLetters: FileDeadLetterSource | SqsDeadLetterSource) {
    const { repository } = await newCustomersTable(dynamo);
    const { doc, tableName } = await newMeteringTable(dynamo);
    const writer = new LedgerWriter(doc, tableName, {
      send: () => Promise.reject(new Error('unused')),
    });
    const operator = new Operator({
      customers: repository,
      apiGateway: {} as never,
      settings: {} as never,
      config: loadConfig({ env: 'dev' }),
      usage: { deadLetters, ledger: writer },
    });
    const stored = async (requestId: string) =>
      (
        await doc.send(
          new GetCommand({ TableName: tableName, Key: { pk: `REQ#${requestId}`, sk: 'REQ' } }),
        )
      ).Item;
    return { operator, stored };
  }

  it('replays the dead-letter file into the ledger once, however often it runs', async () => {
    const file = path.join(
      mkdtempSync(path.join(tmpdir(), 'tierline-dl-')),
      'ledger-dead-letters.jsonl',
    );
    const lines = [record('r1'), record('r2'), record('r1')]
      .map((r) => JSON.stringify(r))
      .join('\n');
    writeFileSync(file, `${lines}\n`);
    const { operator, stored } = await operatorWith(new FileDeadLetterSource(file));

    const first = await operator.replayDeadLetters(setAsideIn(path.dirname(file)));
    writeFileSync(file, `${JSON.stringify(record('r2'))}\n`); // delivered again later
    const second = await operator.replayDeadLetters(setAsideIn(path.dirname(file)));

    expect(first).toMatchObject({ written: 2, duplicate: 1, failed: 0, set_aside: 0 });
    expect(second).toMatchObject({ written: 0, duplicate: 1, failed: 0, set_aside: 0 });
    expect(await stored('r1')).toMatchObject({
      outputTokens: 20,
      costMicroUsd: record('r1').costMicroUsd,
    });
    expect(existsSync(file)).toBe(false); // nothing failed, so nothing was written back
  });

  it('drains the SQS queue, deleting only what reached the ledger', async () => {
    const sqs = new SQSClient({ region: 'eu-west-1' });
    const mock = mockClient(sqs);
    mock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          { Body: JSON.stringify(record('q1')), ReceiptHandle: 'h1' },
          { Body: JSON.stringify(record('q1')), ReceiptHandle: 'h2' },
        ],
      })
      .resolves({ Messages: [] });
    mock.on(DeleteMessageCommand).resolves({});
    const { operator, stored } = await operatorWith(
      new SqsDeadLetterSource(sqs, 'https://sqs/queue'),
    );

    const counts = await operator.replayDeadLetters(setAsideIn(tempDir()));

    expect(counts).toMatchObject({ written: 1, duplicate: 1, failed: 0 });
    expect(await stored('q1')).toBeDefined();
    expect(mock.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: 'https://sqs/queue',
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      VisibilityTimeout: 300,
    });
    expect(mock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: 'https://sqs/queue', ReceiptHandle: 'h1' },
      { QueueUrl: 'https://sqs/queue', ReceiptHandle: 'h2' },
    ]);
  });

  // One malformed line between two records: exit 1 at it, the second record stranded.
  it('sets a malformed line aside in the file it names and replays every record around it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'ledger-dead-letters.jsonl');
    writeFileSync(
      file,
      `${JSON.stringify(record('m1'))}\n{"not":"a record"\n${JSON.stringify(record('m2'))}\n`,
    );
    const { operator, stored } = await operatorWith(new FileDeadLetterSource(file));

    const counts = await operator.replayDeadLetters(setAsideIn(dir));

    expect(counts).toEqual({
      written: 2,
      duplicate: 0,
      failed: 0,
      set_aside: 1,
      set_aside_file: setAsideIn(dir),
    });
    expect(await stored('m1')).toBeDefined();
    expect(await stored('m2')).toBeDefined();
    const [aside] = readFileSync(setAsideIn(dir), 'utf8').trimEnd().split('\n');
    expect(JSON.parse(aside as string)).toMatchObject({ raw: '{"not":"a record"' });
  });

  it('finishes what an interrupted run left in its .replaying file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'ledger-dead-letters.jsonl');
    writeFileSync(`${file}.replaying-123-1700000000000`, `${JSON.stringify(record('left1'))}\n`);
    writeFileSync(file, `${JSON.stringify(record('new1'))}\n`);
    const { operator, stored } = await operatorWith(new FileDeadLetterSource(file));

    const counts = await operator.replayDeadLetters(setAsideIn(dir));
    const again = await operator.replayDeadLetters(setAsideIn(dir));

    expect(counts).toMatchObject({ written: 2, failed: 0 });
    expect(again).toMatchObject({ written: 0, duplicate: 0 });
    expect(await stored('left1')).toBeDefined();
    expect(await stored('new1')).toBeDefined();
    expect(existsSync(`${file}.replaying-123-1700000000000`)).toBe(false);
  });

  it('sets aside a malformed SQS message and deletes it, so it never blocks the queue', async () => {
    const sqs = new SQSClient({ region: 'eu-west-1' });
    const mock = mockClient(sqs);
    mock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          { Body: 'garbage', ReceiptHandle: 'bad' },
          { Body: JSON.stringify(record('s1')), ReceiptHandle: 'good' },
        ],
      })
      .resolves({ Messages: [] });
    mock.on(DeleteMessageCommand).resolves({});
    const dir = tempDir();
    const { operator, stored } = await operatorWith(
      new SqsDeadLetterSource(sqs, 'https://sqs/queue'),
    );

    const counts = await operator.replayDeadLetters(setAsideIn(dir));

    expect(counts).toMatchObject({ written: 1, set_aside: 1 });
    expect(await stored('s1')).toBeDefined();
    expect(
      mock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle),
    ).toEqual(['bad', 'good']);
    expect(readFileSync(setAsideIn(dir), 'utf8')).toContain('"raw":"garbage"');
  });
});
