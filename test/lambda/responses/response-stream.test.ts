import type { ChatCompletionChunk } from '../../../lambda/openai/openai-types';
import type { ResponseStreamEvent } from '../../../lambda/openai/shapes/responses';
import { responseFrame } from '../../../lambda/responses/response-objects';
import {
  encodeResponseEvents,
  ResponseEventStream,
} from '../../../lambda/responses/response-stream';
import { parseResponsesRequest } from '../../../lambda/responses/responses-request';
import { expectMatchesSpec } from '../../support/spec-check';

const frame = responseFrame(parseResponsesRequest({ model: 'qwen3-8b', input: 'Hi' }), {
  responseId: 'resp_0123456789abcdef0123456789abcdef',
  model: 'qwen3-8b',
  createdAt: 1_700_000_000,
});
const chunk = (
  delta: ChatCompletionChunk['choices'][number]['delta'],
  finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
): ChatCompletionChunk => ({
  id: 'chatcmpl-x',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'qwen3-8b',
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const usage = (completion: number): ChatCompletionChunk => ({
  ...chunk({}),
  choices: [],
  usage: { prompt_tokens: 7, completion_tokens: completion, total_tokens: 7 + completion },
});

function run(chunks: ChatCompletionChunk[]) {
  const stream = new ResponseEventStream(frame, () => 1_700_000_001);
  const events = [...stream.start(), ...chunks.flatMap((c) => stream.push(c)), ...stream.finish()];
  return { stream, events };
}

/** Every event is valid against OpenAI's ResponseStreamEvent, and numbered 0, 1, 2... */
function expectSpecEvents(events: ResponseStreamEvent[]) {
  events.forEach((event, index) => {
    expect(event.sequence_number).toBe(index);
    expectMatchesSpec('ResponseStreamEvent', event);
  });
}

describe('Responses events from a chat stream', () => {
  it("sends a text answer in OpenAI's order", () => {
    const { events, stream } = run([
      chunk({ role: 'assistant', content: 'Hello' }),
      chunk({ content: ' there' }),
      chunk({}, 'stop'),
      usage(2),
    ]);

    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expectSpecEvents(events);
    const completed = events.at(-1) as Extract<ResponseStreamEvent, { type: 'response.completed' }>;
    expect(completed.response.status).toBe('completed');
    expect(completed.response.output).toEqual([
      expect.objectContaining({
        type: 'message',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Hello there', annotations: [], logprobs: [] }],
      }),
    ]);
    expect(completed.response.usage).toEqual({
      input_tokens: 7,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 2,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 9,
    });
    expect(stream.latest).toBe(completed.response);
  });

  it('ends incomplete when the output limit cut it', () => {
    const { events } = run([chunk({ content: 'Hel' }), chunk({}, 'length'), usage(1)]);
    const last = events.at(-1) as Extract<ResponseStreamEvent, { type: 'response.incomplete' }>;
    expect(last.type).toBe('response.incomplete');
    expect(last.response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(last.response.output[0]?.status).toBe('incomplete');
    expectSpecEvents(events);
  });

  it('streams reasoning as its own item before the message, its chunks as reasoning tokens', () => {
    const { events } = run([
      chunk({ reasoning: 'Think' }),
      chunk({ reasoning: 'ing' }),
      chunk({ content: 'Done' }),
      chunk({}, 'stop'),
      usage(3),
    ]);
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expectSpecEvents(events);
    const done = events.at(-1) as Extract<ResponseStreamEvent, { type: 'response.completed' }>;
    expect(done.response.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    expect(done.response.usage?.output_tokens_details.reasoning_tokens).toBe(2);
  });

  it('streams function calls with their argument deltas', () => {
    const { events } = run([
      chunk({
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a"' } },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: ':1}' } } as never] }),
      chunk({}, 'tool_calls'),
      usage(2),
    ]);
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expectSpecEvents(events);
    const done = events.at(-1) as Extract<ResponseStreamEvent, { type: 'response.completed' }>;
    expect(done.response.output).toEqual([
      expect.objectContaining({
        type: 'function_call',
        call_id: 'call_1',
        name: 'f',
        arguments: '{"a":1}',
        status: 'completed',
      }),
    ]);
  });

  it('answers a failure after the start with an error event, then response.failed', () => {
    const stream = new ResponseEventStream(frame);
    const events = [
      ...stream.start(),
      ...stream.push(chunk({ content: 'Par' })),
      ...stream.fail({
        error: { message: 'The model failed', type: 'server_error', param: null, code: null },
      }),
    ];
    expect(events.slice(-4).map((e) => e.type)).toEqual([
      'response.content_part.done',
      'response.output_item.done',
      'error',
      'response.failed',
    ]);
    expectSpecEvents(events);
    expect(stream.latest.status).toBe('failed');
  });

  it('writes every event, per-token deltas included, as JSON.stringify writes it', () => {
    // Deltas are written from their fields (deltaJson): the text must be the same, byte for byte,
    // for any text a model can send (quotes, escapes, line separators, lone surrogates, emoji).
    const awkward = [
      '"q"',
      'back\\slash',
      'line\nbreak\t',
      '\u2028\u2029',
      '\ud83d',
      '😀',
      '</script>',
      '',
    ];
    const { events } = run([
      chunk({ role: 'assistant', reasoning: 'Think "hard"' }),
      ...awkward.map((text) => chunk({ reasoning: text })),
      ...awkward.map((text) => chunk({ content: text })),
      chunk({
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } },
        ],
      }),
      ...awkward.map((text) =>
        chunk({ tool_calls: [{ index: 0, function: { name: '', arguments: text } }] }),
      ),
      chunk({}, 'tool_calls'),
      usage(30),
    ]);
    const types = new Set(events.map((event) => event.type));
    for (const type of [
      'response.output_text.delta',
      'response.reasoning_text.delta',
      'response.function_call_arguments.delta',
    ])
      expect(types).toContain(type);
    expectSpecEvents(events);
    for (const event of events) {
      expect(encodeResponseEvents(event)).toBe(
        `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`,
      );
    }
    expect(encodeResponseEvents(events)).toBe(
      events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join(''),
    );
  });

  it('writes a delta of another shape than its own whole (nothing of it is dropped)', () => {
    const base = {
      type: 'response.output_text.delta' as const,
      item_id: 'msg_1',
      output_index: 0,
      content_index: 0,
      delta: 'x',
    };
    const odd = [
      {
        ...base,
        logprobs: [{ token: 'x', logprob: -0.1, bytes: [120], top_logprobs: [] }],
        sequence_number: 3,
      },
      { ...base, logprobs: [], sequence_number: 3, obfuscation: 'abc' },
      { ...base, sequence_number: 3, logprobs: [] },
    ] as unknown as ResponseStreamEvent[];
    for (const event of odd) {
      expect(encodeResponseEvents(event)).toBe(
        `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`,
      );
    }
  });

  it('frames each event as event: and data:', () => {
    const [created] = new ResponseEventStream(frame).start();
    expect(encodeResponseEvents(created)).toBe(
      `event: response.created\ndata: ${JSON.stringify(created)}\n\n`,
    );
  });
});
