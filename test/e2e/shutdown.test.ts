import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfUtcDayEnd } from '../support/windows';

describe('local mode shutdown', () => {
  // Every answer below is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  it('bills the streams it cuts before closing its DynamoDB engine, and keeps the data for the next start', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tierline-shutdown-'));
    const config = loadConfig({ env: 'dev' });
    const backend = () => new TestModelBackend({ tokensPerSecond: 50, replyTokens: 200 });
    // The request and the next start's reading of the month's usage in one UTC day (and month).
    await clearOfUtcDayEnd(60_000);
    const first = await startLocalMode({ config, port: 0, dataDir, backend: backend() });
    const developer = first.demoCustomers.find((d) => d.tier === 'developer');
    const openai = new OpenAI({
      apiKey: developer?.apiKey,
      baseURL: first.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });
    const stream = await openai.chat.completions.create({
      model: 'qwen3-8b',
      messages: [{ role: 'user', content: 'keep talking' }],
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();

    await first.stop(); // the stream is still open
    await iterator.next().catch(() => undefined);
    const second = await startLocalMode({ config, port: 0, dataDir, backend: backend() });
    const again = new OpenAI({
      apiKey: developer?.apiKey,
      baseURL: second.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });
    const usage = (await again.get('/usage', { query: { group_by: 'model' } })) as {
      data: { requests: number; output_tokens: number }[];
    };
    await second.stop();

    expect(usage.data).toEqual([expect.objectContaining({ requests: 1 })]);
    expect(usage.data[0]?.output_tokens).toBeGreaterThanOrEqual(2);
  }, 120_000);

  // SIGTERM with 300 streams in flight closed dynalite under 300 queued SDK calls after 5 s:
  // "Database is not open", 20 admitted requests with neither ledger record nor dead letter.
  it('bills every one of 200 streams in flight when it stops, with no dead letter and no error', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tierline-shutdown-'));
    const config = loadConfig({
      env: 'dev',
      overrides: { tiers: { developer: { edge: { rateLimit: 10_000, burstLimit: 10_000 } } } },
    });
    const backend = () => new TestModelBackend({ tokensPerSecond: 20, replyTokens: 400 });
    const logged: string[] = [];
    // The 200 requests and the next start's reading of the month's usage in one UTC day (and month).
    await clearOfUtcDayEnd(120_000);
    const first = await startLocalMode({
      config,
      port: 0,
      dataDir,
      backend: backend(),
      log: (l) => logged.push(l),
    });
    const developer = first.demoCustomers.find((d) => d.tier === 'developer');
    const openai = new OpenAI({
      apiKey: developer?.apiKey,
      baseURL: first.openAIBaseUrl,
      maxRetries: 0,
    });
    const streams = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const stream = await openai.chat.completions.create({
          model: 'qwen3-8b',
          messages: [{ role: 'user', content: 'keep talking' }],
          max_completion_tokens: 200, // 10 s at 20 tokens a second: still streaming when the server stops
          stream: true,
        });
        const iterator = stream[Symbol.asyncIterator]();
        await iterator.next();
        return iterator;
      }),
    );

    await first.stop(); // SIGTERM in `npm start` calls this
    await Promise.all(streams.map((s) => s.next().catch(() => undefined)));
    const second = await startLocalMode({ config, port: 0, dataDir, backend: backend() });
    const again = new OpenAI({
      apiKey: developer?.apiKey,
      baseURL: second.openAIBaseUrl,
      maxRetries: 0,
    });
    const usage = (await again.get('/usage', { query: { group_by: 'model' } })) as {
      total: { requests: number };
    };
    await second.stop();

    expect(usage.total.requests).toBe(200);
    expect(existsSync(path.join(dataDir, 'ledger-dead-letters.jsonl'))).toBe(false);
    expect(logged.filter((line) => /fail|error/i.test(line))).toEqual([]);
  }, 240_000);

  // SIGTERM cut the connections before the streams' error event left: a client read neither
  // `data: {"error":...}` nor `[DONE]` and could not tell a shutdown from a complete answer.
  it('ends every stream in flight with an error event when it stops, never a bare end', async () => {
    const config = loadConfig({ env: 'dev' });
    const local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ tokensPerSecond: 20, replyTokens: 400 }),
    });
    const developer = local.demoCustomers.find((d) => d.tier === 'developer');
    const bodies = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const response = await fetch(`${local.openAIBaseUrl}/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${developer?.apiKey}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({
            model: 'qwen3-8b',
            messages: [{ role: 'user', content: 'keep talking' }],
            max_completion_tokens: 200,
            stream: true,
          }),
        });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        const first = await reader.read();
        return { reader, text: new TextDecoder().decode(first.value) };
      }),
    );

    const stopping = local.stop(); // SIGTERM in `npm start` calls this
    const ends = await Promise.all(
      bodies.map(async ({ reader, text }) => {
        let all = text;
        for (;;) {
          const next = await reader.read().catch(() => ({ done: true, value: undefined }));
          if (next.done) break;
          all += new TextDecoder().decode(next.value);
        }
        return all.trim().split('\n\n').at(-1) ?? '';
      }),
    );
    await stopping;

    for (const last of ends) {
      expect(last.startsWith('data: {"error":')).toBe(true);
      expect(JSON.parse(last.slice('data: '.length))).toMatchObject({
        error: { type: expect.any(String), message: expect.stringContaining('shutting down') },
      });
    }
  }, 60_000);

  it('prints the current demo keys after a restart, also when an operator rotated one', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tierline-demo-keys-'));
    const config = loadConfig({ env: 'dev' });
    const first = await startLocalMode({
      config,
      port: 0,
      dataDir,
      backend: new TestModelBackend(),
    });
    const developer = first.demoCustomers.find((d) => d.tier === 'developer');
    const freeBefore = first.demoCustomers.find((d) => d.tier === 'free');
    const rotated = await first.operator.rotateKey(developer?.customerId ?? '');
    await first.stop();

    const second = await startLocalMode({
      config,
      port: 0,
      dataDir,
      backend: new TestModelBackend(),
    });
    const shown = second.demoCustomers.find((d) => d.tier === 'developer');
    const client = new OpenAI({
      apiKey: shown?.apiKey,
      baseURL: second.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });
    const models = await client.models.list();
    const free = second.demoCustomers.find((d) => d.tier === 'free');
    await second.stop();

    // The rotated key (or a fresh one), never the dead one from before the rotation.
    expect(shown?.apiKey).not.toBe(developer?.apiKey);
    expect([rotated.apiKey, shown?.apiKey]).toContain(shown?.apiKey);
    expect(models.data.length).toBeGreaterThan(0);
    // A key that was not rotated is printed as it was saved.
    expect(free?.apiKey).toBe(freeBefore?.apiKey);
  });
  // The batch queue lived in memory, so a restart stranded a running batch `in_progress` for
  // ever, holding its spend reservation, open-batch slot and enqueued tokens.
  it('a batch running when local mode stops finishes after the next start, holding nothing', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tierline-batch-restart-'));
    const config = loadConfig({ env: 'dev' });
    const first = await startLocalMode({
      config,
      port: 0,
      dataDir,
      backend: new TestModelBackend({ tokensPerSecond: 4, replyTokens: 8 }),
    });
    const developer = first.demoCustomers.find((d) => d.tier === 'developer');
    const client = (baseURL: string) =>
      new OpenAI({ apiKey: developer?.apiKey, baseURL, maxRetries: 0, fetch: spec.fetch });
    const lines = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({
        custom_id: `r${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'qwen3-8b',
          messages: [{ role: 'user', content: `line ${i}` }],
          max_tokens: 8,
        },
      }),
    );
    const openai = client(first.openAIBaseUrl);
    const input = await openai.files.create({
      file: new File([`${lines.join('\n')}\n`], 'restart.jsonl'),
      purpose: 'batch',
    });
    const batch = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    for (
      let i = 0;
      i < 100 && (await openai.batches.retrieve(batch.id)).status !== 'in_progress';
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await first.stop();

    const second = await startLocalMode({
      config,
      port: 0,
      dataDir,
      backend: new TestModelBackend({ replyTokens: 8 }),
    });
    try {
      const again = client(second.openAIBaseUrl);
      let ended = await again.batches.retrieve(batch.id);
      for (
        let i = 0;
        i < 300 && ['in_progress', 'validating', 'finalizing'].includes(ended.status);
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        ended = await again.batches.retrieve(batch.id);
      }
      expect(ended.status).toBe('completed');
      expect(ended.request_counts?.total).toBe(40);
      expect((ended.request_counts?.completed ?? 0) + (ended.request_counts?.failed ?? 0)).toBe(40);
      // Nothing held: another 40-line batch of the same model is taken at once.
      const next = await again.batches.create({
        input_file_id: input.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      expect(next.status).toBe('validating');
    } finally {
      await second.stop();
    }
  }, 60_000);
});
