import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { sseResponse } from '../lambda/http/sse';
import {
  TestModelBackend,
  type TestModelOptions,
} from '../lambda/inference/backends/test-model-backend';
import type { ChatCompletionChunk } from '../lambda/openai/openai-types';

/**
 * The deterministic test model behind a bare OpenAI-compatible HTTP endpoint (no keys, no limits):
 * the "direct" side of `bench/gateway-overhead`, and an upstream for local mode
 * (`TIERLINE_UPSTREAM_URL`).
 */
export async function startTestModelServer(
  options: TestModelOptions & { port?: number } = {},
): Promise<{ baseUrl: string; stop(): Promise<void> }> {
  const model = new TestModelBackend(options);
  const app = new Hono();
  app.post('/v1/chat/completions', async (c) => {
    const body = (await c.req.json()) as Record<string, unknown>;
    const request = { model: String(body.model), body, signal: c.req.raw.signal };
    if (!body.stream) return c.json(await model.complete(request));
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const chunks = model.stream(request)[Symbol.asyncIterator]();
    const abort = new AbortController();
    return sseResponse({
      first: await chunks.next(),
      rest: chunks,
      transform: (chunk: ChatCompletionChunk) => (chunk.usage && !includeUsage ? [] : [chunk]),
      errorBody: (error) => ({
        error: { message: String(error), type: 'server_error', param: null, code: null },
      }),
      abort,
    });
  });
  const server = serve({
    fetch: app.fetch,
    port: options.port ?? 0,
    hostname: '127.0.0.1',
  }) as Server;
  await new Promise<void>((resolve) =>
    server.listening ? resolve() : server.once('listening', () => resolve()),
  );
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
