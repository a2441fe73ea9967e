import { ClientChunkShaper } from '../../../lambda/http/routes/chat-completions';
import { messagesForBackend, parseChatRequest } from '../../../lambda/inference/chat-request';
import { estimatePromptTokens } from '../../../lambda/inference/tokens';
import { BadRequestError } from '../../../lambda/openai/errors';
import type { ChatCompletionChunk } from '../../../lambda/openai/openai-types';

const valid = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

function rejection(body: unknown): BadRequestError {
  try {
    parseChatRequest(body);
  } catch (error) {
    if (error instanceof BadRequestError) return error;
    throw error;
  }
  throw new Error('expected a 400');
}

describe('chat request validation', () => {
  it('accepts every message role and the common parameters', () => {
    const request = parseChatRequest({
      ...valid,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', content: '42', tool_call_id: 'c1' },
      ],
      temperature: 0.2,
      top_p: 0.9,
      stop: ['\n'],
      seed: 7,
      max_completion_tokens: 10,
      response_format: { type: 'json_object' },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'auto',
      stream: true,
      stream_options: { include_usage: true },
      n: 1,
      user: 'u1',
    });

    expect(request.messages).toHaveLength(4);
  });

  it.each([
    [{ messages: valid.messages }, 'model', 'missing_required_parameter'],
    [{ model: 'm', messages: [] }, 'messages', 'array_below_min_length'],
    [
      { ...valid, messages: [{ role: 'robot', content: 'x' }] },
      'messages[0].role',
      'invalid_value',
    ],
    [{ ...valid, messages: [{ role: 'user', content: 5 }] }, 'messages[0].content', 'invalid_type'],
    [
      { ...valid, messages: [{ role: 'tool', content: 'x' }] },
      'messages[0].tool_call_id',
      'missing_required_parameter',
    ],
    [{ ...valid, temperature: 3 }, 'temperature', 'decimal_above_max_value'],
    [{ ...valid, max_tokens: 0 }, 'max_tokens', 'integer_below_min_value'],
    [{ ...valid, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', 'array_above_max_length'],
    [{ ...valid, frobnicate: true }, 'frobnicate', 'unknown_parameter'],
    [
      { ...valid, messages: [{ role: 'user', content: 'x', mood: 'happy' }] },
      'messages[0].mood',
      'unknown_parameter',
    ],
    [{ ...valid, n: 2 }, 'n', 'invalid_value'],
    [{ ...valid, stream_options: { include_usage: true } }, 'stream_options', 'invalid_value'],
    [{ ...valid, top_logprobs: 2 }, 'top_logprobs', 'invalid_value'],
  ])('answers %j with a 400 naming %s', (body, param, code) => {
    const error = rejection(body);

    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.code).toBe(code);
    expect(error.toBody().error.type).toBe('invalid_request_error');
  });

  // Wrong types once were answered "'temperature' is a required property"; "Invalid input" said
  // nothing.
  it.each([
    [
      { ...valid, temperature: 'hot' },
      "Invalid type for 'temperature': expected a number, but got a string instead.",
    ],
    [
      { ...valid, seed: 1.5 },
      "Invalid type for 'seed': expected an integer, but got a decimal instead.",
    ],
    [
      { ...valid, stream: 'yes' },
      "Invalid type for 'stream': expected a boolean, but got a string instead.",
    ],
    [
      { model: 'm', messages: 'x' },
      "Invalid type for 'messages': expected an array, but got a string instead.",
    ],
    [{ model: 'm', messages: [{ role: 'user' }] }, "'messages[0].content' is a required property."],
    [
      { ...valid, stop: ['a', 'b', 'c', 'd', 'e'] },
      "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 instead.",
    ],
    [
      { ...valid, max_completion_tokens: 0 },
      "Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead.",
    ],
    [
      { ...valid, tool_choice: 'maybe' },
      'Invalid value for \'tool_choice\': "maybe". Supported values are: "none", "auto", "required".',
    ],
  ])('says what is wrong with %j', (body, message) => {
    const error = rejection(body);

    expect(error.message).toBe(message);
  });

  it('accepts a developer message and hands it to the backend as system', () => {
    const request = parseChatRequest({
      model: 'm',
      messages: [{ role: 'developer', content: 'Be brief.' }],
    });

    expect(messagesForBackend(request.messages)).toEqual([
      { role: 'system', content: 'Be brief.' },
    ]);
  });

  it('refuses tools nested 5,000 levels deep with a 400 naming tools, before anything recurses', () => {
    const deep = JSON.parse(`${'['.repeat(5000)}${']'.repeat(5000)}`);
    const nestedObject = JSON.parse(`${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`);

    expect(rejection({ ...valid, tools: deep })).toMatchObject({ status: 400, param: 'tools' });
    expect(rejection({ ...valid, response_format: nestedObject })).toMatchObject({
      param: 'response_format',
    });
  });

  it("refuses a response_format JSON schema past OpenAI's limits, as Responses does its text.format", () => {
    const schema = { type: 'object', description: 'x'.repeat(600_000) };
    const refused = rejection({
      ...valid,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } },
    });
    expect(refused).toMatchObject({
      status: 400,
      param: 'response_format.json_schema.schema',
      code: 'invalid_value',
    });
  });

  it('refuses a body that is not a JSON object', () => {
    expect(rejection([1, 2]).message).toBe('The request body must be a JSON object.');
  });

  it('estimates prompt tokens at about four characters each plus per-message overhead', () => {
    expect(estimatePromptTokens([{ role: 'user', content: 'x'.repeat(400) }])).toBe(3 + 4 + 100);
  });
});

describe('client chunk shaping', () => {
  const chunk = (
    choices: ChatCompletionChunk['choices'],
    usage?: ChatCompletionChunk['usage'],
  ): ChatCompletionChunk => ({
    id: 'upstream',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'upstream-model',
    choices,
    ...(usage ? { usage } : {}),
  });
  const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
  const content = chunk([{ index: 0, delta: { content: 'a' }, finish_reason: null }]);
  const finish = chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]);

  it('puts our id and model on every chunk and usage in x_groq of the finish chunk', () => {
    const shaper = new ClientChunkShaper('chatcmpl-1', 'm', 'req-1', false);

    const out = [
      ...shaper.push(content),
      ...shaper.push(finish),
      ...shaper.push(chunk([], usage)),
      ...shaper.flush(),
    ];

    expect(out.map((c) => [c.id, c.model])).toEqual([
      ['chatcmpl-1', 'm'],
      ['chatcmpl-1', 'm'],
    ]);
    expect(out[1]?.x_groq).toEqual({ id: 'req-1', usage });
    expect(out.some((c) => c.usage)).toBe(false);
  });

  it('adds the OpenAI usage chunk with no choices when asked, also when usage came with the finish chunk', () => {
    const shaper = new ClientChunkShaper('chatcmpl-1', 'm', 'req-1', true);

    const out = [...shaper.push(content), ...shaper.push({ ...finish, usage }), ...shaper.flush()];

    expect(out).toHaveLength(3);
    expect(out[1]?.choices[0]?.finish_reason).toBe('stop');
    expect(out[2]).toMatchObject({ choices: [], usage });
  });

  it('releases a held finish chunk at the end when no usage came', () => {
    const shaper = new ClientChunkShaper('chatcmpl-1', 'm', 'req-1', true);

    expect(shaper.push(finish)).toEqual([]);
    expect(shaper.flush()).toHaveLength(1);
  });
});
