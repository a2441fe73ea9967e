import { Writable } from 'node:stream';
import type { Context as LambdaContext } from 'aws-lambda';
import { streamHandle } from 'hono/aws-lambda';
import { TestModelBackend } from '../../lambda/adapters/backends/test-model-backend';
import { principalFromAuthorizer, requestIdFromEvent } from '../../lambda/adapters/lambda-principal';
import { createApiApp } from '../../lambda/api/app';
import { loadConfig } from '../../lib/config/load';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../support/dynalite';
import { proxyEvent } from '../support/events';
import { meteringOn } from '../support/metering';

/**
 * The chat route through Lambda response streaming, as API Gateway (REST, STREAM mode) invokes it: the
 * `awslambda` globals of the Node.js runtime are stood in for by a recorder of what the function writes.
 */

interface Recorded {
  metadata?: { statusCode: number; headers: Record<string, string> };
  body: string;
  ended: Promise<void>;
}

type StreamingHandler = (event: unknown, responseStream: Writable, context: LambdaContext) => Promise<void>;

function installAwsLambdaGlobals(): void {
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse: (handler: StreamingHandler) => handler,
    HttpResponseStream: {
      from: (stream: Writable & { metadata?: unknown }, metadata: unknown) => {
        stream.metadata = metadata;
        return stream;
      },
    },
  };
}

function recorder(): { stream: Writable; recorded: Recorded } {
  let body = '';
  let resolveEnded: () => void = () => undefined;
  const recorded: Recorded = { body: '', ended: new Promise<void>((resolve) => (resolveEnded = resolve)) };
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      body += chunk.toString();
      recorded.body = body;
      callback();
    },
    final(callback) {
      recorded.metadata = (stream as Writable & { metadata?: Recorded['metadata'] }).metadata;
      resolveEnded();
      callback();
    },
  });
  return { stream, recorded };
}

describe('chat completions through Lambda response streaming', () => {
  const config = loadConfig({ env: 'dev' });
  let handler: StreamingHandler;
  let dynamo: LocalDynamo;

  beforeAll(async () => {
    installAwsLambdaGlobals();
    dynamo = await startDynalite();
    const { repository } = await newCustomersTable(dynamo);
    const app = createApiApp({
      config,
      principalOf: principalFromAuthorizer,
      customers: repository,
      backend: new TestModelBackend({ replyTokens: 4 }),
      ...(await meteringOn(dynamo, config)),
      requestIdOf: requestIdFromEvent,
    });
    handler = streamHandle(app) as unknown as StreamingHandler;
  });
  afterAll(async () => {
    delete (globalThis as Record<string, unknown>).awslambda;
    await dynamo.stop();
  });

  async function invoke(body: unknown, authorizer = { customerId: 'cus_1', tier: 'developer' }) {
    const { stream, recorded } = recorder();
    await handler(
      proxyEvent({
        method: 'POST',
        path: '/v1/chat/completions',
        body: JSON.stringify(body),
        authorizer,
        requestId: 'req-9',
      }),
      stream,
      {} as LambdaContext,
    );
    await recorded.ended;
    return recorded;
  }

  it('writes a 200 event-stream prelude without hop-by-hop headers, then the SSE chunks and [DONE]', async () => {
    const recorded = await invoke({
      model: 'llama-3.1-8b-instant',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    });

    expect(recorded.metadata?.statusCode).toBe(200);
    expect(recorded.metadata?.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(recorded.metadata?.headers['x-request-id']).toBe('req-9');
    expect(Object.keys(recorded.metadata?.headers ?? {})).not.toEqual(
      expect.arrayContaining(['transfer-encoding', 'connection']),
    );
    const events = recorded.body.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.replace(/^data: /, '')));
    expect(chunks.every((chunk) => chunk.id === 'chatcmpl-req-9')).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 4 } });
  });

  it('answers errors before the stream with their status and the OpenAI body', async () => {
    const recorded = await invoke(
      { model: 'qwen3-32b', messages: [{ role: 'user', content: 'hi' }] },
      { customerId: 'cus_1', tier: 'free' },
    );

    expect(recorded.metadata?.statusCode).toBe(403);
    expect(JSON.parse(recorded.body).error.code).toBe('model_not_available_on_tier');
  });

  it('answers a non-streamed completion through the same function', async () => {
    const recorded = await invoke({ model: 'llama-3.1-8b-instant', messages: [{ role: 'user', content: 'hi' }] });

    expect(recorded.metadata?.statusCode).toBe(200);
    expect(JSON.parse(recorded.body)).toMatchObject({ object: 'chat.completion', usage: { completion_tokens: 4 } });
  });
});
