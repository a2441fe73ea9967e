import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { BackendError } from '../../../lambda/inference/backends/model-backend';
import { SageMakerBackend } from '../../../lambda/inference/backends/sagemaker-backend';
import {
  endpointName,
  inferenceComponentName,
} from '../../../lambda/inference/backends/sagemaker-names';
import type { ChatCompletionChunk } from '../../../lambda/openai/openai-types';
import { type LmiStandIn, startLmiStandIn } from '../../support/lmi-stand-in';

/**
 * The SageMaker backend against the LMI stand-in over real HTTP, through the SDK's own serializers,
 * signer and event-stream decoder: base and adapter, streamed and not, warm and cold.
 */

const MODEL = 'qwen3-8b';
const ENDPOINT = endpointName('dev', MODEL);
const BASE = inferenceComponentName('dev', MODEL);
const ADAPTER = 'tierline-dev-ft-abc123';
const FT_MODEL = 'ft:qwen3-8b:acme::abc123';
const body = { messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 64 };

let standIn: LmiStandIn;
let backend: SageMakerBackend;

async function start(options: {
  copies: number;
  msPerToken?: number;
  invokeEndpointTimeoutMs?: number;
}) {
  standIn = await startLmiStandIn({
    // LMI's default served name: what the container answers to when OPTION_SERVED_MODEL_NAME is not
    // set.
    components: {
      [BASE]: { kind: 'base', endpoint: ENDPOINT, copies: options.copies },
      [ADAPTER]: { kind: 'adapter', base: BASE },
    },
    msPerToken: options.msPerToken,
    invokeEndpointTimeoutMs: options.invokeEndpointTimeoutMs,
  });
  const client = new SageMakerRuntimeClient({
    endpoint: standIn.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  backend = new SageMakerBackend({ client, env: 'dev' });
}

afterEach(async () => standIn?.close());

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const text = (chunks: ChatCompletionChunk[]) =>
  chunks.flatMap((c) => c.choices.map((x) => x.delta.content ?? '')).join('');
const adapter = { baseModel: MODEL, name: ADAPTER };

describe('SageMakerBackend against the LMI stand-in, warm', () => {
  beforeEach(() => start({ copies: 1 }));

  it('answers a base-model chat (LMI serves it under its own name: the catalog id is not sent)', async () => {
    // A catalog id in the body, as the API and the batch worker pass it: sent on, vLLM would answer
    // 404.
    const completion = await backend.complete({ model: MODEL, body: { ...body, model: MODEL } });

    expect(completion).toMatchObject({
      object: 'chat.completion',
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'You said: Hello there' },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 6, completion_tokens: 4, total_tokens: 10 },
    });
    expect(standIn.calls).toHaveLength(1);
    expect(standIn.calls[0]).toMatchObject({
      operation: 'InvokeEndpointWithResponseStream',
      component: BASE,
    });
    expect(standIn.calls[0]?.body).not.toHaveProperty('model');
  });

  it('streams a base-model chat as JSON lines, the usage chunk last', async () => {
    const chunks = await collect(backend.stream({ model: MODEL, body: { ...body, model: MODEL } }));

    expect(text(chunks)).toBe('You said: Hello there');
    expect(chunks.every((c) => c.model === MODEL && c.object === 'chat.completion.chunk')).toBe(
      true,
    );
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 4 } });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('answers a fine-tuned model through its adapter component, streamed and not', async () => {
    const completion = await backend.complete({
      model: FT_MODEL,
      body: { ...body, model: FT_MODEL },
      adapter,
    });
    const chunks = await collect(
      backend.stream({ model: FT_MODEL, body: { ...body, model: FT_MODEL }, adapter }),
    );

    expect(completion).toMatchObject({
      model: FT_MODEL,
      choices: [{ message: { content: 'You said: Hello there' } }],
    });
    expect(text(chunks)).toBe('You said: Hello there');
    expect(standIn.calls.map((c) => [c.endpoint, c.component])).toEqual([
      [ENDPOINT, ADAPTER],
      [ENDPOINT, ADAPTER],
    ]);
  });

  it('cuts at max_tokens with finish_reason length', async () => {
    const completion = await backend.complete({ model: MODEL, body: { ...body, max_tokens: 2 } });

    expect(completion.choices[0]).toMatchObject({
      message: { content: 'You said:' },
      finish_reason: 'length',
    });
    expect(completion.usage.completion_tokens).toBe(2);
  });
});

describe('SageMakerBackend against the LMI stand-in, a long answer', () => {
  it('answers a non-streamed chat that takes longer than InvokeEndpoint allows the container', async () => {
    // 4 tokens at 60 ms each: past a 100 ms InvokeEndpoint limit (60 s on SageMaker, against 8,192
    // tokens).
    await start({ copies: 1, msPerToken: 60, invokeEndpointTimeoutMs: 100 });

    const completion = await backend.complete({ model: MODEL, body });

    expect(completion.choices[0]?.message.content).toBe('You said: Hello there');
  });
});

describe('SageMakerBackend against the LMI stand-in, cold (scaled to zero)', () => {
  beforeEach(() => start({ copies: 0 }));

  async function failure(run: () => Promise<unknown>): Promise<BackendError> {
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof BackendError))
      throw new Error(`expected a BackendError, got ${String(error)}`);
    return error;
  }

  it('answers unavailable with retry-after, streamed and not', async () => {
    const complete = await failure(() => backend.complete({ model: MODEL, body }));
    const stream = await failure(() => collect(backend.stream({ model: MODEL, body })));

    for (const error of [complete, stream]) {
      expect(error).toMatchObject({ kind: 'unavailable', options: { retryAfterSeconds: 60 } });
    }
    expect(standIn.noCapacityFailures.get(BASE)).toBe(2);
  });

  it("wakes the base: a fine-tune's request that finds no capacity counts a no-capacity failure on the base", async () => {
    const error = await failure(() => backend.complete({ model: FT_MODEL, body, adapter }));

    expect(error).toMatchObject({ kind: 'unavailable', options: { retryAfterSeconds: 60 } });
    // The scale-from-zero alarm watches the base component's NoCapacityInvocationFailures.
    expect(standIn.noCapacityFailures.get(BASE)).toBe(1);
    expect(standIn.noCapacityFailures.get(ADAPTER)).toBe(1);
  });
});
