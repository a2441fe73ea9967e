import * as http from 'node:http';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { BackendChatRequest } from '../../lambda/inference/backends/model-backend';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { usagePartition } from '../../lambda/metering/ledger';
import { METERING_TABLE } from '../../lambda/metering/metering-table';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_METERING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';

/**
 * Billing of requests the client cut. The test model takes 400 ms to its first token, then 20
 * tokens a second for 30 tokens (1.85 s in all); the client aborts its HTTP request part way.
 */
const MODEL = 'qwen3-8b';
const config = loadConfig({
  env: 'dev',
  overrides: { tiers: { developer: { edge: { rateLimit: 100, burstLimit: 100 } } } },
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A customer's ledger records, from the day partitions their requests may be in: a record counts
 * in the UTC day of its admission, up to a minute (these requests' length) before this read, which
 * may be the day before.
 */
async function recordsOf(doc: DynamoDBDocumentClient, customerId: string) {
  const now = Date.now();
  const days = new Set([now - 60_000, now].map((ms) => new Date(ms).toISOString().slice(0, 10)));
  const records: Record<string, unknown>[] = [];
  for (const day of days) {
    const { Items = [] } = await doc.send(
      new QueryCommand({
        TableName: LOCAL_METERING_TABLE,
        IndexName: METERING_TABLE.byCustomerDayIndex.name,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': usagePartition(customerId, day) },
      }),
    );
    records.push(...Items);
  }
  return records;
}

/**
 * The test model, whose next stream can wait before its first token until the client is gone: a
 * cut is then before the first token however slowly the machine got the request there (a cut at a
 * fixed 150 ms could come before the request was even admitted, with no record to bill).
 */
class HoldingBackend extends TestModelBackend {
  private asked?: () => void;

  /** Holds the next stream; resolves once the model is asked (the request admitted). */
  holdNextStream(): Promise<void> {
    return new Promise((resolve) => (this.asked = resolve));
  }

  override async *stream(request: BackendChatRequest) {
    const asked = this.asked;
    this.asked = undefined;
    if (asked) {
      asked();
      // Then the model stops as it does when its client leaves before the first token.
      await new Promise<void>((resolve) => {
        if (request.signal?.aborted) resolve();
        request.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    yield* super.stream(request);
  }
}

describe('billing of requests cut by the client', () => {
  let local: LocalMode;
  let doc: DynamoDBDocumentClient;
  const backend = new HoldingBackend({
    replyTokens: 30,
    timeToFirstTokenMs: 400,
    tokensPerSecond: 20,
  });

  beforeAll(async () => {
    local = await startLocalMode({ config, port: 0, backend });
    doc = localModeDocumentClient(local.dynamoEndpoint);
  });
  afterAll(async () => {
    doc.destroy();
    await local.stop();
  });

  async function customer(name: string) {
    const { apiKey, customer } = await local.operator.createCustomer({
      name,
      email: `${name}@cuts.test`,
      tier: 'developer',
    });
    return { apiKey: apiKey as string, customerId: customer.customerId };
  }

  /**
   * Sends a chat completion and closes the connection after `cutAfter` ms, or once it settles, as
   * a client that goes away.
   */
  async function cut(
    apiKey: string,
    stream: boolean,
    cutAfter: number | Promise<void>,
  ): Promise<void> {
    const body = JSON.stringify({
      model: MODEL,
      stream,
      messages: [{ role: 'user', content: 'tell me a long story' }],
    });
    const request = http.request(`${local.openAIBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    });
    request.on('error', () => undefined); // the socket is destroyed on purpose
    request.end(body);
    await (typeof cutAfter === 'number' ? sleep(cutAfter) : cutAfter);
    request.destroy();
  }

  async function ledgerOf(customerId: string) {
    // A poll: it returns as soon as the record is there (the 20 s are for a loaded machine).
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const Items = await recordsOf(doc, customerId);
      if (Items.length > 0) return Items;
      await sleep(50);
    }
    throw new Error('no ledger record');
  }

  it('bills a non-streamed request cut after 1 s for what the model generated', async () => {
    const { apiKey, customerId } = await customer('cut-complete');

    await cut(apiKey, false, 1_000);

    const [record] = await ledgerOf(customerId);
    // The model is let finish (it had done most of the work): billed and counted for all it
    // generated.
    expect(record).toMatchObject({ status: 'client_disconnected', outputTokens: 30 });
    expect(record?.costMicroUsd).toBeGreaterThan(0);
  });

  it('bills a stream cut before its first token for its input only', async () => {
    const { apiKey, customerId } = await customer('cut-stream');

    await cut(apiKey, true, backend.holdNextStream());

    const [record] = await ledgerOf(customerId);
    expect(record).toMatchObject({ status: 'client_disconnected', outputTokens: 0 });
    expect(record?.inputTokens).toBeGreaterThan(0);
    expect(record?.costMicroUsd).toBeGreaterThan(0);
  });
});

/**
 * With `TIERLINE_MAX_REQUEST_SECONDS` low and a slow model, a request ran past its maximum duration
 * (and the reconciler's deadline after it, which billed its input only) and got all its tokens. Now
 * it is cut at the maximum duration and billed what was sent.
 */
describe('a request that reaches its maximum duration', () => {
  let local: LocalMode;
  let doc: DynamoDBDocumentClient;

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      maxRequestMs: 1_000,
      // 40 tokens at 10 a second: 4 s, well past the 1 s maximum.
      backend: new TestModelBackend({
        replyTokens: 40,
        timeToFirstTokenMs: 100,
        tokensPerSecond: 10,
      }),
    });
    doc = localModeDocumentClient(local.dynamoEndpoint);
  });
  afterAll(async () => {
    doc.destroy();
    await local.stop();
  });

  async function ledgerOf(customerId: string) {
    for (const end = Date.now() + 20_000; Date.now() < end; await sleep(50)) {
      const Items = await recordsOf(doc, customerId);
      if (Items.length > 0) return Items;
    }
    throw new Error('no ledger record');
  }

  const ask = async (name: string, stream: boolean) => {
    const { apiKey, customer } = await local.operator.createCustomer({
      name,
      email: `${name}@cuts.test`,
      tier: 'developer',
    });
    const response = await fetch(`${local.openAIBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        stream,
        messages: [{ role: 'user', content: 'tell me a long story' }],
      }),
    });
    const text = await response.text();
    return { response, text, customerId: customer.customerId };
  };

  it('cuts a stream there with an error event, billed for the tokens it sent', async () => {
    const { text, customerId } = await ask('deadline-stream', true);

    const events = text.trim().split('\n\n');
    const last = JSON.parse((events.at(-1) as string).slice('data: '.length));
    expect(last).toMatchObject({
      error: { code: 'timeout', message: expect.stringContaining('maximum duration') },
    });
    expect(text).not.toContain('[DONE]');
    const sent = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.slice('data: '.length)))
      .filter((chunk) => chunk.choices?.[0]?.delta?.content).length;
    expect(sent).toBeGreaterThan(0);
    // Cut before the 40 tokens of the reply: by the deadline, not the reply's end (a duration
    // measured here would fail on a loaded machine, where the test's own timeout guards).
    expect(sent).toBeLessThan(40);
    const [record] = await ledgerOf(customerId);
    expect(record).toMatchObject({ status: 'failed', outputTokens: sent });
    expect(record?.inputTokens).toBeGreaterThan(0);
  });

  it('answers a non-streamed one 504 timeout there, billed its input (nothing was sent)', async () => {
    const { response, text, customerId } = await ask('deadline-complete', false);

    expect(response.status).toBe(504);
    // The deadline's answer: the reply's end (4 s) would be a 200.
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'timeout' } });
    const [record] = await ledgerOf(customerId);
    expect(record).toMatchObject({ status: 'failed', outputTokens: 0 });
  });
});
