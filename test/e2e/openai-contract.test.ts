import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { PayloadTooLargeError } from '../../lambda/openai/errors';
import { MAX_REQUEST_BYTES } from '../../lambda/openai/request-size';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * OpenAI's contract where clients and servers most often part: what was sent, and what a client
 * expects back. Local mode on a real port, every answer also checked against the published schemas.
 */

const MODEL = 'qwen3-8b';
const ENTERPRISE_ONLY = 'qwen3-32b';
const CONSOLE_ORIGIN = 'https://console.example.com';

/** The test model, but taking tools (as a real model server does): the nesting check must not rely on a refusal. */
class ToolTakingModel extends TestModelBackend {
  override unsupportedParameters(): ReadonlySet<string> {
    return new Set(['logprobs', 'top_logprobs']);
  }
}

/** A raw HTTP exchange over a socket, for requests Node's client refuses to send (a NUL in a header). */
function rawExchange(port: number, text: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
    });
    socket.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
    socket.on('error', reject);
  });
}

describe("OpenAI's contract at its edges, against local mode", () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let keys: Record<string, string>;
  let openai: OpenAI;
  const post = (route: string, body: unknown, key = keys.developer, method = 'POST') =>
    spec.fetch(`${local.openAIBaseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({
        env: 'dev',
        overrides: { environment: { corsAllowedOrigins: [CONSOLE_ORIGIN] } },
      }),
      port: 0,
      backend: new ToolTakingModel({ replyTokens: 5 }),
    });
    const clients = localClients(local, spec.fetch);
    keys = { ...clients.keys };
    // The spend limit is an admin key's (or a session's): an inference key gets 403 there.
    const developer = local.demoCustomers.find((d) => d.tier === 'developer');
    keys.developerAdmin = (
      await local.operator.createAdminKey(developer?.customerId ?? '', 'tests')
    ).key;
    openai = clients.openai(clients.keys.developer);
  });
  afterAll(() => local.stop());

  it('answers a chat completion with logprobs and message.refusal present and null', async () => {
    const response = await post('/chat/completions', {
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
    });
    const body = (await response.json()) as {
      choices: { logprobs: unknown; message: { refusal: unknown } }[];
    };

    expect(body.choices[0]).toHaveProperty('logprobs', null);
    expect(body.choices[0]?.message).toHaveProperty('refusal', null);
  });

  it('streams "usage": null on every chunk but the last with include_usage', async () => {
    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-1)?.usage).toMatchObject({ completion_tokens: 5 });
  });

  it.each([
    [{ temperature: 'hot' }, 'temperature', 'expected a number, but got a string'],
    [{ seed: 1.5 }, 'seed', 'expected an integer, but got a decimal'],
    [{ stream: 'yes' }, 'stream', 'expected a boolean, but got a string'],
    [{ messages: 'x' }, 'messages', 'expected an array, but got a string'],
  ])(
    'answers the wrong type in %j with invalid_type naming the types',
    async (change, param, words) => {
      const response = await post('/chat/completions', {
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        ...change,
      });
      const { error } = (await response.json()) as {
        error: { message: string; param: string; code: string };
      };

      expect(response.status).toBe(400);
      expect(error).toMatchObject({ param, code: 'invalid_type' });
      expect(error.message).toContain(words);
    },
  );

  it('accepts a developer message', async () => {
    const completion = await openai.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
    });

    expect(completion.choices[0]?.message.content).toContain('Hello');
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])(
    'answers model %s with 404 model_not_found, not a 500',
    async (model) => {
      const chat = post('/chat/completions', { model, messages: [{ role: 'user', content: 'x' }] });
      const retrieve = spec.fetch(`${local.openAIBaseUrl}/models/${model}`, {
        headers: { authorization: `Bearer ${keys.developer}` },
      });

      for (const response of await Promise.all([chat, retrieve])) {
        expect(response.status).toBe(404);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
          'model_not_found',
        );
      }
    },
  );

  it('answers tools and response_format nested 5,000 levels deep with a 400 naming the parameter', async () => {
    // Written as text: JSON.stringify itself overflows the stack on 5,000 levels.
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const base = `"model":"${MODEL}","messages":[{"role":"user","content":"x"}]`;
    const send = (body: string) =>
      spec.fetch(`${local.openAIBaseUrl}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.developer}`, 'content-type': 'application/json' },
        body,
      });

    const withTools = await send(
      `{${base},"tools":[{"type":"function","function":{"name":"f","parameters":${deep}}}]}`,
    );
    const withFormat = await send(
      `{${base},"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":${deep}}}}`,
    );

    expect(withTools.status).toBe(400);
    expect(((await withTools.json()) as { error: { param: string } }).error.param).toBe('tools');
    expect(withFormat.status).toBe(400);
    expect(((await withFormat.json()) as { error: { param: string } }).error.param).toBe(
      'response_format',
    );
  });

  it('writes a spend limit of 5e-324 whole, rounded to the micro-USD, and refuses a string', async () => {
    const admin = keys.developerAdmin;
    const tiny = await post('/spend_limit', { monthly_limit_usd: 5e-324 }, admin, 'PUT');
    const shown = await spec.fetch(`${local.openAIBaseUrl}/spend_limit`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const asString = await post('/spend_limit', { monthly_limit_usd: '50' }, admin, 'PUT');
    const extra = await post(
      '/spend_limit',
      { monthly_limit_usd: 5, currency: 'EUR' },
      admin,
      'PUT',
    );

    expect(tiny.status).toBe(200);
    expect(((await shown.json()) as { monthly_limit_usd: number }).monthly_limit_usd).toBe(0);
    expect(asString.status).toBe(400);
    expect(((await asString.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_type',
    );
    expect(extra.status).toBe(400);
    await post('/spend_limit', { monthly_limit_usd: null }, admin, 'PUT');
  });

  it("answers a body just over MAX_REQUEST_BYTES with 413 and the body AWS's WAF guard sends", async () => {
    const padding = 'x'.repeat(MAX_REQUEST_BYTES);
    const error = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: padding }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    // The same object the web ACL's custom response body is made of (request-size-guard.ts).
    expect({ error: (error as InstanceType<typeof OpenAI.APIError>).error }).toEqual(
      new PayloadTooLargeError(MAX_REQUEST_BYTES).toBody(),
    );
  });

  it('answers a chunked 100 MB chat body with 413 before reading past the limit', async () => {
    const url = new URL(`${local.openAIBaseUrl}/chat/completions`);
    const oneMiB = Buffer.alloc(1024 * 1024, 'a');
    const result = await new Promise<{ status: number; body: string; sentMiB: number }>(
      (resolve, reject) => {
        let sentMiB = 0;
        const request = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: {
              authorization: `Bearer ${keys.developer}`,
              'content-type': 'application/json',
            },
          },
          (response) => {
            let body = '';
            response.on('data', (c) => {
              body += c;
            });
            response.on('end', () => {
              request.destroy();
              resolve({ status: response.statusCode ?? 0, body, sentMiB });
            });
          },
        );
        request.on('error', () => undefined);
        const pump = () => {
          while (sentMiB < 100 && !request.destroyed) {
            sentMiB += 1;
            if (!request.write(oneMiB)) return void request.once('drain', pump);
          }
          if (!request.destroyed) request.end();
        };
        request.write('{"model":"x","messages":"');
        pump();
        setTimeout(() => reject(new Error('no answer')), 25_000).unref();
      },
    );

    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).error.code).toBe('request_too_large');
    // Answered when the limit (5 MiB) was passed, not after the client sent all 100 MiB.
    expect(result.sentMiB).toBeLessThan(100);
  });

  it('answers a 100 MB spend-limit body with 413 from its content-length, before reading it', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${local.openAIBaseUrl}/spend_limit`);
      const request = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'PUT',
          headers: {
            authorization: `Bearer ${keys.developer}`,
            'content-length': String(100 * 1024 * 1024),
          },
        },
        (response) => {
          resolve(response.statusCode ?? 0);
          request.destroy();
        },
      );
      request.on('error', () => undefined);
      request.write('{"monthly_limit_usd": 1');
      setTimeout(() => reject(new Error('no answer')), 25_000).unref();
    });

    expect(status).toBe(413);
  });

  it('answers headers over 16 KB with 431 and a NUL in a header with 400, in the OpenAI shape', async () => {
    const port = Number(new URL(local.url).port);
    const big = await rawExchange(
      port,
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    const nul = await rawExchange(
      port,
      'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n',
    );

    expect(big.status).toBe(431);
    expect(JSON.parse(big.body).error).toMatchObject({
      type: 'invalid_request_error',
      param: null,
    });
    expect(nul.status).toBe(400);
    expect(JSON.parse(nul.body).error.code).toBe('malformed_request');
  });

  it('answers a CORS preflight from an allowed origin without a key, and exposes the rate-limit headers', async () => {
    const preflight = await spec.fetch(`${local.openAIBaseUrl}/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: CONSOLE_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-stainless-os',
      },
    });
    const stranger = await spec.fetch(`${local.openAIBaseUrl}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    const actual = await spec.fetch(`${local.openAIBaseUrl}/models`, {
      headers: { origin: CONSOLE_ORIGIN, authorization: `Bearer ${keys.developer}` },
    });

    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(CONSOLE_ORIGIN);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    expect(actual.headers.get('access-control-allow-origin')).toBe(CONSOLE_ORIGIN);
    expect(actual.headers.get('access-control-expose-headers')).toContain(
      'x-ratelimit-remaining-tokens',
    );
    expect(actual.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('answers an unknown URL without a key with 404 unknown_url', async () => {
    for (const url of [
      `${local.openAIBaseUrl}/nothing`,
      `${local.url}/openai/v1/nothing`,
      `${local.url}/nope`,
    ]) {
      const response = await spec.fetch(url);
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'unknown_url',
      );
    }
  });

  it('answers a higher-tier model alike in chat and GET /v1/models/{id}, naming the tier that has it', async () => {
    const free = new OpenAI({
      apiKey: keys.free,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });

    const chat = await free.chat.completions
      .create({ model: ENTERPRISE_ONLY, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    const retrieve = await free.models.retrieve(ENTERPRISE_ONLY).catch((e: unknown) => e);

    for (const error of [chat, retrieve]) {
      expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(error).toMatchObject({ status: 403, code: 'model_not_available_on_tier' });
      expect((error as Error).message).toContain('enterprise');
    }
  });

  it('serves its OpenAPI document at /openapi.json without a key', async () => {
    const response = await spec.fetch(`${local.url}/openapi.json`);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };

    expect(response.status).toBe(200);
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/chat/completions',
        '/v1/plans',
        '/v1/me',
        '/v1/usage',
        '/v1/spend_limit',
      ]),
    );
  });
});
