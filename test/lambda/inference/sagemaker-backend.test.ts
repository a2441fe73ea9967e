import {
  InternalStreamFailure,
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  ModelError,
  ModelNotReadyException,
  ModelStreamError,
  type ResponseStream,
  SageMakerRuntimeClient,
  SageMakerRuntimeServiceException,
  ServiceUnavailable,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import {
  BackendError,
  type BackendErrorKind,
} from '../../../lambda/inference/backends/model-backend';
import {
  redactAwsIdentifiers,
  SageMakerBackend,
} from '../../../lambda/inference/backends/sagemaker-backend';
import type { ChatCompletionChunk } from '../../../lambda/openai/openai-types';

const MODEL = 'qwen3-8b';
const ENDPOINT = 'tierline-dev-qwen3-8b';
const COMPONENT = 'tierline-dev-qwen3-8b-base';
const ACCOUNT_ARN = 'arn:aws:sagemaker:eu-west-1:123456789012:endpoint/tierline-dev-qwen3-8b';

const client = new SageMakerRuntimeClient({ region: 'eu-west-1' });
const sagemaker = mockClient(client);
const backend = new SageMakerBackend({ client, env: 'dev' });

const requestBody = {
  messages: [{ role: 'user', content: 'Hello' }],
  max_tokens: 32,
  temperature: 0.2,
};
const usage = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 };

const encode = (text: string) => new TextEncoder().encode(text);

function sentBody(body: unknown): unknown {
  return JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body as Uint8Array));
}

/** The options (second argument) of the n-th `send`: the stub's type only declares the command. */
function sendOptionsOfCall(n: number): { abortSignal?: AbortSignal } | undefined {
  const args = sagemaker.call(n).args as unknown[];
  return args[1] as { abortSignal?: AbortSignal } | undefined;
}

async function* events(...items: ResponseStream[]): AsyncGenerator<ResponseStream> {
  yield* items;
}

const part = (text: string): ResponseStream => ({ PayloadPart: { Bytes: encode(text) } });
const partBytes = (bytes: Uint8Array): ResponseStream => ({ PayloadPart: { Bytes: bytes } });

function chunk(content: string, extra: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_767_225_600,
    model: '/opt/ml/model',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
    ...extra,
  };
}
const usageChunk = { ...chunk(''), choices: [], usage };

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const item of stream) chunks.push(item);
  return chunks;
}

/** Reads the stream until it throws; returns what came before and the error. */
async function collectUntilError(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ chunks: ChatCompletionChunk[]; error: unknown }> {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const item of stream) chunks.push(item);
  } catch (error) {
    return { chunks, error };
  }
  throw new Error('expected the stream to fail');
}

function contents(chunks: ChatCompletionChunk[]): (string | null | undefined)[] {
  return chunks.flatMap((item) => item.choices.map((choice) => choice.delta.content));
}

beforeEach(() => sagemaker.reset());

describe('SageMakerBackend.complete', () => {
  /** The stream a non-streamed call is folded from (LMI: JSON lines, usage last). */
  const completionStream = () =>
    events(
      part(
        `${JSON.stringify(chunk('Hi', { choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] }))}\n`,
      ),
      part(
        `${JSON.stringify(chunk('!', { choices: [{ index: 0, delta: { content: '!' }, finish_reason: 'stop' }] }))}\n`,
      ),
      part(`${JSON.stringify(usageChunk)}\n`),
    );

  it('streams from the base component (no 60 s limit), without `model`, and folds the chunks into one completion', async () => {
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .callsFake(() => ({ Body: completionStream() }));

    const result = await backend.complete({
      model: MODEL,
      body: { ...requestBody, model: MODEL, stream_options: { include_usage: false } },
    });

    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
    const [call] = sagemaker.commandCalls(InvokeEndpointWithResponseStreamCommand);
    const { Body, ...input } = call?.args[0].input ?? {};
    expect(input).toEqual({
      EndpointName: ENDPOINT,
      InferenceComponentName: COMPONENT,
      ContentType: 'application/json',
      Accept: 'application/json',
    });
    // No `model`: LMI fills in the name it serves (a catalog id would be answered 404 by vLLM).
    expect(sentBody(Body)).toEqual({
      ...requestBody,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(result).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_767_225_600,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hi!', refusal: null },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage,
    });
  });

  it('refuses a completion without usage, because it could not be metered', async () => {
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .resolves({ Body: events(part(`${JSON.stringify(chunk('Hi'))}\n`)) });

    const result = backend.complete({ model: MODEL, body: requestBody });

    await expect(result).rejects.toMatchObject({
      kind: 'model_error',
      message: expect.stringMatching(/usage/),
    });
  });

  it('refuses a body that is not JSON', async () => {
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .resolves({ Body: events(part('<html>\n')) });

    const result = backend.complete({ model: MODEL, body: requestBody });

    await expect(result).rejects.toMatchObject({ kind: 'model_error' });
  });

  it('invokes what resolveTarget names (an adapter component of a fine-tuned model)', async () => {
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .callsFake(() => ({ Body: completionStream() }));
    const adapterBackend = new SageMakerBackend({
      client,
      env: 'dev',
      resolveTarget: () => ({
        endpointName: 'shared-endpoint',
        inferenceComponentName: 'customer-adapter',
      }),
    });

    await adapterBackend.complete({ model: 'ft:customer-model', body: requestBody });

    expect(
      sagemaker.commandCalls(InvokeEndpointWithResponseStreamCommand)[0]?.args[0].input,
    ).toMatchObject({
      EndpointName: 'shared-endpoint',
      InferenceComponentName: 'customer-adapter',
    });
  });

  it('passes the abort signal to the SDK', async () => {
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .callsFake(() => ({ Body: completionStream() }));
    const signal = new AbortController().signal;

    await backend.complete({ model: MODEL, body: requestBody, signal });

    expect(sendOptionsOfCall(0)?.abortSignal).toBe(signal);
  });

  it('rethrows the abort of an aborted request unchanged: the caller knows why', async () => {
    const controller = new AbortController();
    controller.abort();
    const abortError = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).rejects(abortError);

    const result = backend.complete({ model: MODEL, body: requestBody, signal: controller.signal });

    await expect(result).rejects.toBe(abortError);
  });
});

describe('SageMakerBackend.stream', () => {
  it('sends a streaming request that always asks for usage', async () => {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({ Body: events() });

    await collect(
      backend.stream({
        model: MODEL,
        body: { ...requestBody, stream_options: { include_usage: false } },
      }),
    );

    const [call] = sagemaker.commandCalls(InvokeEndpointWithResponseStreamCommand);
    expect(sagemaker.calls()).toHaveLength(1);
    const { Body, ...input } = call?.args[0].input ?? {};
    expect(input).toEqual({
      EndpointName: ENDPOINT,
      InferenceComponentName: COMPONENT,
      ContentType: 'application/json',
      Accept: 'application/json',
    });
    expect(sentBody(Body)).toEqual({
      ...requestBody,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('reads the LMI format (JSON lines, no data: prefix) and ends with the usage chunk', async () => {
    const body = [chunk('Hel'), chunk('lo'), usageChunk]
      .map((item) => `${JSON.stringify(item)}\n`)
      .join('');
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({ Body: events(part(body)) });

    const chunks = await collect(backend.stream({ model: MODEL, body: requestBody }));

    expect(chunks).toEqual([
      { ...chunk('Hel'), model: MODEL },
      { ...chunk('lo'), model: MODEL },
      { ...usageChunk, model: MODEL },
    ]);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage });
  });

  it('reads the TGI/OpenAI SSE format: keep-alives skipped, [DONE] ends the stream', async () => {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({
      Body: events(
        part(': keep-alive\n\n'),
        part(`data: ${JSON.stringify(chunk('Hi'))}\n\n`),
        part(`data:${JSON.stringify(usageChunk)}\r\n\r\n`),
        part('data: [DONE]\n\n'),
        part(`data: ${JSON.stringify(chunk('after the end'))}\n\n`),
      ),
    });

    const chunks = await collect(backend.stream({ model: MODEL, body: requestBody }));

    expect(contents(chunks)).toEqual(['Hi']);
    expect(chunks).toHaveLength(2);
    expect(chunks[1]).toMatchObject({ choices: [], usage, model: MODEL });
  });

  it('normalizes object and model on every chunk', async () => {
    const odd = { ...chunk('x'), object: 'text_completion.chunk', model: 'internal-name' };
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .resolves({ Body: events(part(`${JSON.stringify(odd)}\n`)) });

    const [only] = await collect(backend.stream({ model: MODEL, body: requestBody }));

    expect(only).toMatchObject({ object: 'chat.completion.chunk', model: MODEL });
  });

  it('reassembles lines and characters split across payload parts (é and an emoji cut in half)', async () => {
    const bytes = encode(
      `data: ${JSON.stringify(chunk('café 🚀'))}\n\ndata: ${JSON.stringify(usageChunk)}\n\n`,
    );
    const inEAcute = bytes.indexOf(0xc3) + 1;
    const inEmoji = bytes.indexOf(0xf0) + 2;
    const inSecondLine = bytes.lastIndexOf(encode('data:')[0] ?? 0) + 10;
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({
      Body: events(
        partBytes(bytes.subarray(0, inEAcute)),
        partBytes(bytes.subarray(inEAcute, inEmoji)),
        partBytes(bytes.subarray(inEmoji, inSecondLine)),
        partBytes(bytes.subarray(inSecondLine)),
      ),
    });

    const chunks = await collect(backend.stream({ model: MODEL, body: requestBody }));

    expect(contents(chunks)).toEqual(['café 🚀']);
    expect(chunks.at(-1)).toMatchObject({ usage });
  });

  it('reads a last line that has no line break', async () => {
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .resolves({ Body: events(part(JSON.stringify(chunk('a')))) });

    const chunks = await collect(backend.stream({ model: MODEL, body: requestBody }));

    expect(contents(chunks)).toEqual(['a']);
  });

  it('yields the chunks before a ModelStreamError event, then throws model_error', async () => {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({
      Body: events(
        part(`${JSON.stringify(chunk('one'))}\n`),
        part(`${JSON.stringify(chunk('two'))}\n`),
        {
          ModelStreamError: new ModelStreamError({
            message: 'The TCP connection to the model was reset',
            ErrorCode: 'StreamBroken',
            $metadata: {},
          }),
        },
        part(`${JSON.stringify(chunk('never'))}\n`),
      ),
    });

    const { chunks, error } = await collectUntilError(
      backend.stream({ model: MODEL, body: requestBody }),
    );

    expect(contents(chunks)).toEqual(['one', 'two']);
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ kind: 'model_error' });
  });

  it('maps a ModelStreamError thrown by the event stream the same way as one delivered as an event', async () => {
    async function* failingBody(): AsyncGenerator<ResponseStream> {
      yield part(`${JSON.stringify(chunk('one'))}\n`);
      throw new ModelStreamError({ message: 'broken', ErrorCode: 'StreamBroken', $metadata: {} });
    }
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({ Body: failingBody() });

    const { chunks, error } = await collectUntilError(
      backend.stream({ model: MODEL, body: requestBody }),
    );

    expect(contents(chunks)).toEqual(['one']);
    expect(error).toMatchObject({ kind: 'model_error' });
  });

  it('maps a ModelStreamError for an exceeded invocation time to timeout', async () => {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({
      Body: events({
        ModelStreamError: new ModelStreamError({
          message: 'too slow',
          ErrorCode: 'ModelInvocationTimeExceeded',
          $metadata: {},
        }),
      }),
    });

    const { error } = await collectUntilError(backend.stream({ model: MODEL, body: requestBody }));

    expect(error).toMatchObject({ kind: 'timeout' });
  });

  it('maps an InternalStreamFailure event to unavailable with a retry-after', async () => {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({
      Body: events(part(`${JSON.stringify(chunk('one'))}\n`), {
        InternalStreamFailure: new InternalStreamFailure({ message: 'internal', $metadata: {} }),
      }),
    });

    const { chunks, error } = await collectUntilError(
      backend.stream({ model: MODEL, body: requestBody }),
    );

    expect(contents(chunks)).toEqual(['one']);
    expect(error).toMatchObject({
      kind: 'unavailable',
      options: { retryAfterSeconds: expect.any(Number) },
    });
  });

  it.each<[string, unknown, BackendErrorKind]>([
    [
      'a vLLM error object',
      { object: 'error', message: 'prompt too long', type: 'BadRequestError', code: 400 },
      'bad_request',
    ],
    [
      'an OpenAI error object',
      { error: { message: 'generation failed', type: 'server_error' } },
      'model_error',
    ],
  ])(
    'throws after the chunks before it when a line is %s',
    async (_name, errorDocument, expectedKind) => {
      const body = `data: ${JSON.stringify(chunk('one'))}\n\ndata: ${JSON.stringify(errorDocument)}\n\n`;
      sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({ Body: events(part(body)) });

      const { chunks, error } = await collectUntilError(
        backend.stream({ model: MODEL, body: requestBody }),
      );

      expect(contents(chunks)).toEqual(['one']);
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ kind: expectedKind });
    },
  );

  it('refuses a line that is not JSON', async () => {
    sagemaker
      .on(InvokeEndpointWithResponseStreamCommand)
      .resolves({ Body: events(part('data: {"choices": [\n')) });

    const { error } = await collectUntilError(backend.stream({ model: MODEL, body: requestBody }));

    expect(error).toMatchObject({ kind: 'model_error' });
  });

  it('passes the abort signal to the SDK', async () => {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).resolves({ Body: events() });
    const signal = new AbortController().signal;

    await collect(backend.stream({ model: MODEL, body: requestBody, signal }));

    expect(sendOptionsOfCall(0)?.abortSignal).toBe(signal);
  });

  it('maps an error thrown when the stream starts (scaled to zero)', async () => {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).rejects(
      new ValidationError({
        message:
          'Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress',
        $metadata: { httpStatusCode: 400 },
      }),
    );

    const { chunks, error } = await collectUntilError(
      backend.stream({ model: MODEL, body: requestBody }),
    );

    expect(chunks).toEqual([]);
    expect(error).toMatchObject({ kind: 'unavailable', options: { retryAfterSeconds: 60 } });
  });
});

describe('SageMakerBackend error mapping', () => {
  function sdkError(
    name: string,
    message: string,
    httpStatusCode: number,
    fault: 'client' | 'server' = 'client',
  ): SageMakerRuntimeServiceException {
    return new SageMakerRuntimeServiceException({
      name,
      message,
      $fault: fault,
      $metadata: { httpStatusCode },
    });
  }

  async function errorOfComplete(thrown: Error): Promise<BackendError> {
    sagemaker.on(InvokeEndpointWithResponseStreamCommand).rejects(thrown);
    const error = await backend.complete({ model: MODEL, body: requestBody }).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    if (!(error instanceof BackendError))
      throw new Error(`expected a BackendError, got ${String(error)}`);
    return error;
  }

  it('maps a component scaled to zero to unavailable, retry in 60 s, and says scale-out takes minutes', async () => {
    const thrown = new ValidationError({
      message:
        'Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress',
      $metadata: { httpStatusCode: 400 },
    });

    const error = await errorOfComplete(thrown);

    expect(error.kind).toBe('unavailable');
    expect(error.options.retryAfterSeconds).toBe(60);
    expect(error.message).toMatch(/5-6 minutes/);
    expect(error.options.cause).toBe(thrown);
  });

  it('matches "no capacity" loosely, whatever the case', async () => {
    const error = await errorOfComplete(
      new ValidationError({
        message: 'inference component HAS NO CAPACITY right now',
        $metadata: {},
      }),
    );

    expect(error).toMatchObject({ kind: 'unavailable', options: { retryAfterSeconds: 60 } });
  });

  it('maps a ModelError with a 4xx original status to bad_request with the model message', async () => {
    const thrown = new ModelError({
      message: `Received client error (400) from primary with message "...". See ${ACCOUNT_ARN} in account 123456789012`,
      OriginalStatusCode: 400,
      OriginalMessage: JSON.stringify({
        object: 'error',
        message:
          "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        type: 'BadRequestError',
        code: 400,
      }),
      LogStreamArn: ACCOUNT_ARN,
      $metadata: { httpStatusCode: 424 },
    });

    const error = await errorOfComplete(thrown);

    expect(error.kind).toBe('bad_request');
    expect(error.message).toBe(
      "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
    );
    expect(error.options.upstreamStatus).toBe(400);
  });

  it('maps a ModelError with a 5xx original status to model_error, without ARNs or account ids', async () => {
    const thrown = new ModelError({
      message: 'Received server error (500) from primary',
      OriginalStatusCode: 500,
      OriginalMessage: `CUDA out of memory on ${ACCOUNT_ARN} (account 123456789012)`,
      $metadata: { httpStatusCode: 424 },
    });

    const error = await errorOfComplete(thrown);

    expect(error.kind).toBe('model_error');
    expect(error.options.upstreamStatus).toBe(500);
    expect(error.message).toMatch(/CUDA out of memory/);
    expect(error.message).not.toMatch(/arn:aws|123456789012/);
  });

  it('maps the ModelError of a container that missed the invocation deadline to timeout', async () => {
    const error = await errorOfComplete(
      new ModelError({
        message:
          'Received server error (0) from primary with message "Your invocation timed out while waiting for a response from container primary."',
        OriginalStatusCode: 0,
        $metadata: { httpStatusCode: 424 },
      }),
    );

    expect(error.kind).toBe('timeout');
  });

  it.each([
    ['an endpoint', `Endpoint ${ENDPOINT} of account 123456789012 not found.`],
    ['an inference component', `Inference component ${COMPONENT} not found.`],
  ])(
    'maps %s that does not exist (GPU stack torn down) to unavailable: not deployed',
    async (_what, message) => {
      const error = await errorOfComplete(
        new ValidationError({ message, $metadata: { httpStatusCode: 400 } }),
      );

      expect(error.kind).toBe('unavailable');
      expect(error.message).toMatch(/not deployed/);
      expect(error.message).not.toMatch(/123456789012/);
    },
  );

  it.each<[string, () => Error, number | undefined]>([
    [
      'ServiceUnavailable',
      () => new ServiceUnavailable({ message: 'try again', $metadata: { httpStatusCode: 503 } }),
      10,
    ],
    ['ThrottlingException', () => sdkError('ThrottlingException', 'Rate exceeded', 400), 5],
    ['an HTTP 429', () => sdkError('TooManyRequests', 'slow down', 429), 5],
    ['an HTTP 503', () => sdkError('SomethingUnavailable', 'unavailable', 503, 'server'), 10],
    [
      'ModelNotReadyException',
      () => new ModelNotReadyException({ message: 'loading', $metadata: {} }),
      30,
    ],
  ])('maps %s to unavailable with a retry-after', async (_name, thrown, retryAfterSeconds) => {
    const error = await errorOfComplete(thrown());

    expect(error.kind).toBe('unavailable');
    expect(error.options.retryAfterSeconds).toBe(retryAfterSeconds);
  });

  it('maps an SDK timeout to timeout', async () => {
    const thrown = Object.assign(
      new Error('the request socket timed out after 70000 ms of inactivity'),
      {
        name: 'TimeoutError',
      },
    );

    const error = await errorOfComplete(thrown);

    expect(error.kind).toBe('timeout');
  });

  it('maps anything else to model_error, with ARNs and account ids stripped', async () => {
    const thrown = sdkError(
      'InternalFailure',
      `User: ${ACCOUNT_ARN.replace('endpoint', 'role')} failed in account 123456789012`,
      500,
      'server',
    );

    const error = await errorOfComplete(thrown);

    expect(error.kind).toBe('model_error');
    expect(error.message).not.toMatch(/arn:aws|123456789012/);
  });

  it('redacts ARNs of every partition and bare account ids', () => {
    const text =
      'arn:aws-us-gov:iam::123456789012:role/x, arn:aws:sagemaker:eu-west-1:123456789012:endpoint/y; 123456789012.';

    const redacted = redactAwsIdentifiers(text);

    expect(redacted).toBe('[arn], [arn]; [account].');
  });
});

describe('SageMakerBackend.unsupportedParameters', () => {
  it('refuses no OpenAI chat parameter: LMI serves them, and the API layer checks n itself', () => {
    const unsupported = backend.unsupportedParameters(MODEL);

    expect([...unsupported]).toEqual([]);
  });
});
