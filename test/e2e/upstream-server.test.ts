import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { OpenAICompatibleBackend } from '../../lambda/inference/backends/openai-compatible-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Local mode with an OpenAI-compatible upstream (`TIERLINE_UPSTREAM_URL`) that misbehaves: down, failing, or
 * ignoring `stream: true`. The customer gets an honest status, and never the upstream's address.
 */

type Behaviour = 'json-for-stream' | 'fail';

function startUpstream(behaviour: () => Behaviour): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (behaviour() === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'CUDA error at /opt/vllm/worker.py on 10.0.3.7' } }));
        return;
      }
      // Ignores `stream: true`: one JSON completion.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          created: 1,
          model: 'm',
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }),
      );
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
  const ask = { model: 'llama-3.1-8b-instant', messages: [{ role: 'user' as const, content: 'x' }] };
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
    local = await startLocalMode({ config, port: 0, backend: new OpenAICompatibleBackend({ baseUrl: upstream.url }) });
    // A port nothing listens on: the upstream is down.
    down = await startLocalMode({
      config,
      port: 0,
      backend: new OpenAICompatibleBackend({ baseUrl: 'http://127.0.0.1:9/v1' }),
    });
  });
  afterAll(async () => {
    await Promise.all([local.stop(), down.stop()]);
    upstream.server.close();
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

  it('answers an upstream that ignores stream: true with a 502 before any 200', async () => {
    behaviour = 'json-for-stream';

    const attempt = client(local).chat.completions.create({ ...ask, stream: true });

    await expect(attempt).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(attempt).rejects.toMatchObject({ status: 502 });
  });
});
