import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { type LedgerRecord, LedgerWriter, ledgerRecord } from '../../../lambda/metering/ledger';
import {
  type BucketQuery,
  type GroupField,
  OrganizationUsage,
} from '../../../lambda/metering/organization-usage';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const prices = { inputMicroUsdPerMillion: 1_000_000, outputMicroUsdPerMillion: 2_000_000 }; // $1 / $2 per 1M
const CUSTOMER = 'cus_usage';
const DAY = Date.parse('2026-05-10T00:00:00.000Z') / 1000;
const at = (secondsIntoDay: number) => new Date((DAY + secondsIntoDay) * 1000).toISOString();

function record(
  requestId: string,
  startedAt: string,
  fields: Partial<Pick<LedgerRecord, 'model' | 'projectId' | 'apiKeyId' | 'batch'>> & {
    tokens?: number;
    customerId?: string;
  } = {},
): LedgerRecord {
  const { tokens = 1_000, customerId = CUSTOMER, ...rest } = fields;
  return ledgerRecord({
    requestId,
    customerId,
    model: 'qwen3-8b',
    tier: 'developer',
    inputTokens: tokens,
    outputTokens: tokens / 2,
    prices,
    status: 'completed',
    startedAt,
    finishedAt: startedAt,
    ...rest,
  });
}

const day = (start: number, limit = 7, end = start + 7 * 86_400): BucketQuery => ({
  start,
  end,
  width: '1d',
  limit,
});
const groups = (...fields: GroupField[]) => new Set(fields);

describe('organization usage and costs from the ledger (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let doc: DynamoDBDocumentClient;
  let usage: OrganizationUsage;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ tableName, doc } = await newMeteringTable(dynamo));
    const writer = new LedgerWriter(doc, tableName, {
      send: () => Promise.reject(new Error('unexpected dead letter')),
    });
    usage = new OrganizationUsage(doc, tableName, new Set(['whisper-large-v3-turbo']));
    // A record exactly as the code before projects wrote it: no projectId, no apiKeyId.
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: 'REQ#old-1',
          sk: 'REQ',
          gsi1pk: `USAGE#${CUSTOMER}#2026-05-10`,
          gsi1sk: `${at(60)}#old-1`,
          requestId: 'old-1',
          customerId: CUSTOMER,
          model: 'qwen3-8b',
          tier: 'developer',
          inputTokens: 100,
          outputTokens: 50,
          prices,
          discountPercent: 0,
          costMicroUsd: 200,
          status: 'completed',
          startedAt: at(60),
          finishedAt: at(61),
        },
      }),
    );
    for (const r of [
      record('a1', at(120), { projectId: 'proj_a', apiKeyId: 'key_a' }),
      record('a2', at(3_600 + 5), {
        projectId: 'proj_a',
        apiKeyId: 'key_a2',
        model: 'llama-3.1-8b',
      }),
      record('b1', at(86_400 + 10), { projectId: 'proj_b', apiKeyId: 'key_b', tokens: 2_000 }),
      record('b2', at(86_400 + 20), { projectId: 'proj_b', batch: true, tokens: 10 }),
      // Speech to text: seconds of audio are the record's input tokens.
      record('t1', at(300), {
        projectId: 'proj_a',
        apiKeyId: 'key_a',
        model: 'whisper-large-v3-turbo',
        tokens: 90,
      }),
      // The same time, another organization: never in this one's answers.
      record('x1', at(120), { customerId: 'cus_other', projectId: 'proj_x', apiKeyId: 'key_x' }),
      // Exactly at the end of a 2-day range: left out (end is exclusive).
      record('e1', at(2 * 86_400), { projectId: 'proj_a' }),
    ])
      await writer.write(r);
  });
  afterAll(() => dynamo.stop());

  it('reads a record written before projects as the default project', async () => {
    const page = await usage.completions(
      CUSTOMER,
      day(DAY, 1),
      { projectIds: new Set([defaultProjectId(CUSTOMER)]) },
      groups('project_id', 'api_key_id'),
    );
    expect(page.data[0]?.results).toEqual([
      expect.objectContaining({
        project_id: defaultProjectId(CUSTOMER),
        api_key_id: null,
        input_tokens: 100,
        output_tokens: 50,
        num_model_requests: 1,
      }),
    ]);
  });

  it('sums a day per project, never counting another organization or transcriptions', async () => {
    const page = await usage.completions(
      CUSTOMER,
      day(DAY, 2, DAY + 2 * 86_400),
      {},
      groups('project_id'),
    );
    expect(page).toMatchObject({ object: 'page', has_more: false, next_page: null });
    expect(page.data.map((b) => [b.start_time, b.end_time])).toEqual([
      [DAY, DAY + 86_400],
      [DAY + 86_400, DAY + 2 * 86_400],
    ]);
    const byProject = (bucket: number) =>
      Object.fromEntries(
        (page.data[bucket]?.results ?? []).map((r) => [
          r.project_id,
          [r.num_model_requests, r.input_tokens, r.output_tokens],
        ]),
      );
    expect(byProject(0)).toEqual({
      [defaultProjectId(CUSTOMER)]: [1, 100, 50],
      proj_a: [2, 2_000, 1_000],
    });
    expect(byProject(1)).toEqual({ proj_b: [2, 2_010, 1_005] });
  });

  it('buckets by minute and hour, start inclusive and end exclusive', async () => {
    const minutes = await usage.completions(
      CUSTOMER,
      { start: DAY + 60, end: DAY + 180, width: '1m', limit: 60 },
      {},
      groups(),
    );
    expect(minutes.data.map((b) => [b.start_time, b.results[0]?.num_model_requests])).toEqual([
      [DAY + 60, 1],
      [DAY + 120, 1],
    ]);
    const hours = await usage.completions(
      CUSTOMER,
      { start: DAY, end: DAY + 2 * 3_600, width: '1h', limit: 24 },
      { models: new Set(['llama-3.1-8b']) },
      groups('model', 'api_key_id'),
    );
    expect(hours.data[0]?.results).toEqual([]);
    expect(hours.data[1]?.results).toEqual([
      expect.objectContaining({ model: 'llama-3.1-8b', api_key_id: 'key_a2', input_tokens: 1_000 }),
    ]);
  });

  it('answers a bucket that starts mid-bucket with its own start, and pages on', async () => {
    const first = await usage.completions(CUSTOMER, day(DAY + 90, 1), {}, groups());
    expect(first.data[0]).toMatchObject({ start_time: DAY + 90, end_time: DAY + 86_400 });
    // The record of minute 1 started before the range: only a1 and a2 count.
    expect(first.data[0]?.results[0]?.num_model_requests).toBe(2);
    expect(first).toMatchObject({ has_more: true, next_page: `page_${DAY + 86_400}` });
    const second = await usage.completions(
      CUSTOMER,
      { ...day(DAY + 90, 1), resumeAt: DAY + 86_400 },
      {},
      groups(),
    );
    expect(second.data.map((b) => b.start_time)).toEqual([DAY + 86_400]);
    expect(second.data[0]?.results[0]?.num_model_requests).toBe(2);
  });

  it('splits batch from online, and filters by batch and key', async () => {
    const page = await usage.completions(CUSTOMER, day(DAY + 86_400, 1), {}, groups('batch'));
    expect(page.data[0]?.results.map((r) => [r.batch, r.num_model_requests])).toEqual([
      [false, 1],
      [true, 1],
    ]);
    const batchOnly = await usage.completions(
      CUSTOMER,
      day(DAY + 86_400, 1),
      { batch: true },
      groups(),
    );
    expect(batchOnly.data[0]?.results[0]?.input_tokens).toBe(10);
    const keyed = await usage.completions(
      CUSTOMER,
      day(DAY, 2),
      { apiKeyIds: new Set(['key_b']) },
      groups(),
    );
    expect(keyed.data.flatMap((b) => b.results.map((r) => r.input_tokens))).toEqual([2_000]);
    const users = await usage.completions(
      CUSTOMER,
      day(DAY, 2),
      { userIds: new Set(['u']) },
      groups(),
    );
    expect(users.data.flatMap((b) => b.results)).toEqual([]);
  });

  it('counts transcriptions in seconds, apart from completions', async () => {
    const page = await usage.audioTranscriptions(CUSTOMER, day(DAY, 1), {}, groups('model'));
    expect(page.data[0]?.results).toEqual([
      {
        object: 'organization.usage.audio_transcriptions.result',
        seconds: 90,
        num_model_requests: 1,
        project_id: null,
        user_id: null,
        api_key_id: null,
        model: 'whisper-large-v3-turbo',
      },
    ]);
  });

  it('adds costs exactly per project and line item, to the micro-dollar', async () => {
    const page = await usage.costs(
      CUSTOMER,
      day(DAY, 2, DAY + 2 * 86_400),
      {},
      groups('project_id', 'line_item'),
    );
    // $1 per 1M in, $2 per 1M out: 1,000 in + 500 out is 2,000 µ$.
    const cost = (r: LedgerRecord) => r.costMicroUsd;
    expect(cost(record('c', at(0)))).toBe(2_000);
    const day0 = Object.fromEntries(
      (page.data[0]?.results ?? []).map((r) => [
        `${r.project_id}|${r.line_item}`,
        [r.amount.value, r.quantity, r.quantity_unit],
      ]),
    );
    expect(day0).toEqual({
      [`${defaultProjectId(CUSTOMER)}|qwen3-8b`]: [0.0002, 150, 'tokens'],
      'proj_a|qwen3-8b': [0.002, 1_500, 'tokens'],
      'proj_a|llama-3.1-8b': [0.002, 1_500, 'tokens'],
      'proj_a|whisper-large-v3-turbo': [
        cost(record('c', at(0), { tokens: 90 })) / 1e6,
        90,
        'duration_seconds',
      ],
    });
    const day1 = (page.data[1]?.results ?? []).map((r) => r.line_item);
    expect(day1).toEqual(['qwen3-8b', 'qwen3-8b, batch']);
    const total = await usage.costs(CUSTOMER, day(DAY, 2, DAY + 2 * 86_400), {}, groups());
    expect(total.data.map((b) => b.results[0]?.amount)).toEqual([
      {
        value: (200 + 2_000 + 2_000 + cost(record('c', at(0), { tokens: 90 }))) / 1e6,
        currency: 'usd',
      },
      { value: (4_000 + cost(record('c', at(0), { tokens: 10 }))) / 1e6, currency: 'usd' },
    ]);
  });
});
