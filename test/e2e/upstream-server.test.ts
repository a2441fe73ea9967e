import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { OpenAICompatibleBackend } from '../../lambda/inference/backends/openai-compatible-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Local mode with an OpenAI-compatible upstream (`TIERLINE_UPSTREAM_URL`) that misbehaves: down,
 * failing, or ignoring `stream: true`. The customer gets an honest status, and never the upstream's
 * address.
 */

type Behaviour =
  | 'json-for-stream'
  | 'fail'
  | 'serve'
  | 'hang-mid-stream'
  | 'never-answer'
  | 'fail-endless';

/** What the upstream saw of the requests sent to it. */
const seen: { bodies: Record<string, unknown>[]; closedEarly: number } = {
  bodies: [],
  closedEarly: 0,
};

const sseChunk = (content: string, usage?: object) =>
  `data: ${JSON.stringify({
    id: 'up-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'upstream-name',
    choices: usage ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
    ...(usage ? { usage } : {}),
  })}\n\n`;

/** A real server's stream, written in pieces that split events and a multi-byte character across writes. */
function serveStream(res: import('node:http').ServerResponse, hang: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const events = sseChunk('Grüße, ') + sseChunk('tiers ') + sseChunk('🚀');
  const bytes = Buffer.from(events);
  const cut = bytes.indexOf(Buffer.from('ü')) + 1; // inside the two bytes of "ü"
  res.write(bytes.subarray(0, cut));
  setTimeout(() => {
    res.write(bytes.subarray(cut, cut + 40));
    setTimeout(() => {
      res.write(bytes.subarray(cut + 40));
      if (hang) return; // never ends: the client has to go away
      res.write(sseChunk('', { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 }));
      res.end('data: [DONE]\n\n');
    }, 5);
  }, 5);
}

/** One JSON chat completion, as a server answers a request that did not stream. */
function answerCompletion(
  res: import('node:http').ServerResponse,
  content: string,
  usage: object,
): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      id: 'up-2',
      object: 'chat.completion',
      created: 1,
      model: 'upstream-name',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage,
    }),
  );
}

function startUpstream(behaviour: () => Behaviour): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (part) => {
      text += part;
    });
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      seen.bodies.push(body);
      const now = behaviour();
      if (now === 'serve' || now === 'hang-mid-stream') {
        res.on('close', () => {
          if (!res.writableFinished) seen.closedEarly += 1;
        });
        if (body.stream) return serveStream(res, now === 'hang-mid-stream');
        answerCompletion(res, 'Grüße', {
          prompt_tokens: 12,
          completion_tokens: 2,
          total_tokens: 14,
        });
        return;
      }
      if (now === 'never-answer') {
        // Accepts the request and never answers (a wedged model server).
        res.on('close', () => {
          if (!res.writableFinished) seen.closedEarly += 1;
        });
        return;
      }
      if (now === 'fail-endless') {
        // A failure whose body never ends (a server dumping a log, a misrouted download).
        res.writeHead(500, { 'content-type': 'text/plain' });
        const junk = 'x'.repeat(64 * 1024);
        const timer = setInterval(() => res.write(junk), 5);
        res.on('close', () => {
          clearInterval(timer);
          seen.closedEarly += 1;
        });
        return;
      }
      if (now === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { message: 'CUDA error at /opt/vllm/worker.py on 10.0.3.7' } }),
        );
        return;
      }
      // Ignores `stream: true`: one JSON completion.
      answerCompletion(res, 'hi', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` }),
    ),
  );
}

describe('an upstream model server that is down, failing or ignores stream', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let behaviour: Behaviour = 'json-for-stream';
  let upstream: { server: Server; url: string };
  let local: LocalMode;
  let down: LocalMode;
  /** The same upstream, given up on after 300 ms without a byte from it. */
  let impatient: LocalMode;
  const ask = { model: 'qwen3-8b', messages: [{ role: 'user' as const, content: 'x' }] };
  const client = (mode: LocalMode) =>
    new OpenAI({
      apiKey: mode.demoCustomers.find((d) => d.tier === 'developer')?.apiKey,
      baseURL: mode.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });

  beforeAll(async () => {
    upstream = await startUpstream(() => behaviour);
    const config = loadConfig({ env: 'dev' });
    local = await startLocalMode({
      config,
      port: 0,
      backend: new OpenAICompatibleBackend({ baseUrl: upstream.url }),
    });
    impatient = await startLocalMode({
      config,
      port: 0,
      backend: new OpenAICompatibleBackend({ baseUrl: upstream.url, idleTimeoutMs: 300 }),
    });
    // A port nothing listens on: the upstream is down.
    down = await startLocalMode({
      config,
      port: 0,
      backend: new OpenAICompatibleBackend({ baseUrl: 'http://127.0.0.1:9/v1' }),
    });
  });
  afterAll(async () => {
    await Promise.all([local.stop(), down.stop(), impatient.stop()]);
    upstream.server.close();
  });

  it('streams and answers through the upstream: split events and characters, usage metered, model renamed', async () => {
    behaviour = 'serve';
    seen.bodies.length = 0;

    const stream = await client(local).chat.completions.create({
      ...ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
      expect(chunk.model).toBe('qwen3-8b');
    }
    const completion = await client(local).chat.completions.create(ask);

    expect(text).toBe('Grüße, tiers 🚀');
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
    expect(completion.choices[0]?.message.content).toBe('Grüße');
    expect(completion.usage?.total_tokens).toBe(14);
    // What the upstream was asked: the stream with usage, and each model by its catalog id.
    expect(seen.bodies[0]).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(seen.bodies[1]).toMatchObject({ stream: false, model: 'qwen3-8b' });
  });

  it('stops the upstream request when the client goes away mid-stream', async () => {
    behaviour = 'hang-mid-stream';
    seen.closedEarly = 0;
    const controller = new AbortController();

    const stream = await client(local).chat.completions.create(
      { ...ask, stream: true },
      { signal: controller.signal },
    );
    let text = '';
    const reading = (async () => {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (text.includes('🚀')) controller.abort();
      }
    })().catch(() => undefined);
    await reading;
    // The upstream sees its request closed once the API notices the client left.
    for (let waited = 0; seen.closedEarly === 0 && waited < 20_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    expect(text).toBe('Grüße, tiers 🚀');
    expect(seen.closedEarly).toBe(1);
  });

  it('gives up on an upstream that accepts and never answers: 504, and its connection closed', async () => {
    behaviour = 'never-answer';
    seen.closedEarly = 0;

    const error = (await client(impatient)
      .chat.completions.create(ask)
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;

    // A 504 at all is the 300 ms idle timeout's: the default one (300 s) is past this test's own
    // timeout, and a duration measured here would fail on a loaded machine, not a slow timeout.
    expect(error.status).toBe(504);
    for (let waited = 0; seen.closedEarly === 0 && waited < 20_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen.closedEarly).toBe(1);
  });

  it('gives up on an upstream that stalls mid-stream: the stream fails, the upstream request is closed', async () => {
    behaviour = 'hang-mid-stream';
    seen.closedEarly = 0;

    const stream = await client(impatient).chat.completions.create({ ...ask, stream: true });
    let text = '';
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(text).toBe('Grüße, tiers 🚀');
    expect(failure).toBeInstanceOf(Error);
    for (let waited = 0; seen.closedEarly === 0 && waited < 20_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen.closedEarly).toBe(1);
    // The connection pool still serves: the next request goes through.
    behaviour = 'serve';
    expect((await client(impatient).chat.completions.create(ask)).choices[0]?.message.content).toBe(
      'Grüße',
    );
  });

  it('answers 503 with retry-after when the upstream is down, without its address', async () => {
    for (const stream of [false, true]) {
      const error = (await client(down)
        .chat.completions.create({ ...ask, stream })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;

      expect(error.status).toBe(503);
      expect(error.headers?.get('retry-after')).toBeTruthy();
      expect(error.message).not.toMatch(/127\.0\.0\.1|:9\b|http:/);
    }
  });

  it('answers a failing upstream with 502 quoting the request id and nothing of the upstream', async () => {
    behaviour = 'fail';

    const error = (await client(local)
      .chat.completions.create(ask)
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;

    expect(error.status).toBe(502);
    expect(error.message).toContain(error.headers?.get('x-request-id') ?? 'missing');
    expect(error.message).not.toMatch(/CUDA|10\.0\.3\.7|127\.0\.0\.1/);
  });

  it('answers a failure with an endless body with a 502 at once, reading only its beginning', async () => {
    behaviour = 'fail-endless';
    seen.closedEarly = 0;

    for (const stream of [false, true]) {
      const error = (await client(local)
        .chat.completions.create({ ...ask, stream }, { timeout: 3_000 })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error.status).toBe(502);
    }
    for (let waited = 0; seen.closedEarly < 2 && waited < 20_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen.closedEarly).toBe(2);
  });

  it('answers an upstream that ignores stream: true with a 502 before any 200', async () => {
    behaviour = 'json-for-stream';

    const attempt = client(local).chat.completions.create({ ...ask, stream: true });

    await expect(attempt).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(attempt).rejects.toMatchObject({ status: 502 });
  });
});
