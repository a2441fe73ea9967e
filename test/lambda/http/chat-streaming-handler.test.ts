import { Writable } from 'node:stream';
import type { Context as LambdaContext } from 'aws-lambda';
import {
  principalFromAuthorizer,
  requestIdFromEvent,
} from '../../../lambda/customers/lambda-principal';
import { createApiApp } from '../../../lambda/http/app';
import { streamingHandler } from '../../../lambda/http/lambda-streaming';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../../lib/config/load';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';
import { proxyEvent } from '../../support/events';
import { meteringOn } from '../../support/metering';

/**
 * The chat route through Lambda response streaming, as API Gateway (REST, STREAM mode) invokes it:
 * the `awslambda` globals of the Node.js runtime are stood in for by a recorder of what the
 * function writes.
 */

interface Recorded {
  metadata?: { statusCode: number; headers: Record<string, string> };
  body: string;
  ended: Promise<void>;
}

type StreamingHandler = (
  event: unknown,
  responseStream: Writable,
  context: LambdaContext,
) => Promise<void>;

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

function recorder(failAfterWrites = Number.POSITIVE_INFINITY): {
  stream: Writable;
  recorded: Recorded;
} {
  let body = '';
  let writes = 0;
  let resolveEnded: () => void = () => undefined;
  const recorded: Recorded = {
    body: '',
    ended: new Promise<void>((resolve) => (resolveEnded = resolve)),
  };
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      writes += 1;
      if (writes > failAfterWrites) {
        callback(new Error('client connection reset'));
        return;
      }
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
  // A stream that failed is destroyed without `final`: it only closes.
  stream.on('close', () => resolveEnded());
  return { stream, recorded };
}

describe('chat completions through Lambda response streaming', () => {
  const config = loadConfig({ env: 'dev' });
  let handler: StreamingHandler;
  let dynamo: LocalDynamo;
  let metering: Awaited<ReturnType<typeof meteringOn>>;
  const lambdaContext = { getRemainingTimeInMillis: () => 900_000 } as LambdaContext;

  beforeAll(async () => {
    installAwsLambdaGlobals();
    dynamo = await startDynalite();
    const { repository } = await newCustomersTable(dynamo);
    metering = await meteringOn(dynamo, config);
    const app = createApiApp({
      config,
      principalOf: principalFromAuthorizer,
      customers: repository,
      backend: new TestModelBackend({ replyTokens: 4 }),
      ...metering,
      requestIdOf: requestIdFromEvent,
    });
    handler = streamingHandler(app) as unknown as StreamingHandler;
  });
  afterAll(async () => {
    delete (globalThis as Record<string, unknown>).awslambda;
    await dynamo.stop();
  });

  async function invoke(
    body: unknown,
    authorizer = { customerId: 'cus_1', tier: 'developer' },
    options: { requestId?: string; failAfterWrites?: number } = {},
  ) {
    const { stream, recorded } = recorder(options.failAfterWrites);
    await handler(
      proxyEvent({
        method: 'POST',
        path: '/v1/chat/completions',
        body: JSON.stringify(body),
        authorizer,
        requestId: options.requestId ?? 'req-9',
      }),
      stream,
      lambdaContext,
    );
    await recorded.ended;
    return recorded;
  }

  it('writes a 200 event-stream prelude without hop-by-hop headers, then the SSE chunks and [DONE]', async () => {
    const recorded = await invoke({
      model: 'qwen3-8b',
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

  it('still bills the tokens sent when writing to the client fails mid-stream', async () => {
    await invoke(
      { model: 'qwen3-8b', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { customerId: 'cus_2', tier: 'developer' },
      { requestId: 'req-cut', failAfterWrites: 2 },
    );

    const today = new Date().toISOString().slice(0, 10);
    const { data } = await metering.usage.queryUsage('cus_2', today, today, 'model');
    expect(data).toEqual([expect.objectContaining({ requests: 1 })]);
    expect(data[0]?.output_tokens).toBeGreaterThanOrEqual(1);
  });

  it('answers a non-streamed completion through the same function', async () => {
    const recorded = await invoke({
      model: 'qwen3-8b',
      messages: [{ role: 'user', content: 'hi' }],
    });

    expect(recorded.metadata?.statusCode).toBe(200);
    expect(JSON.parse(recorded.body)).toMatchObject({
      object: 'chat.completion',
      usage: { completion_tokens: 4 },
    });
  });
});
