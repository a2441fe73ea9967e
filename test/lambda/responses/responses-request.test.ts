import { BadRequestError } from '../../../lambda/openai/errors';
import {
  chatRequestOf,
  messagesOfItems,
  parseInputTokensRequest,
  parseResponsesRequest,
  responsesParamName,
} from '../../../lambda/responses/responses-request';

/** What a refused body answers: its 400's message, param and code. */
function refusal(body: unknown) {
  try {
    parseResponsesRequest(body);
  } catch (error) {
    if (!(error instanceof BadRequestError)) throw error;
    return { message: error.message, param: error.param, code: error.code };
  }
  throw new Error('accepted');
}

describe('the Responses request body', () => {
  it('accepts a string input and the items OpenAI clients send back', () => {
    const request = parseResponsesRequest({
      model: 'qwen3-8b',
      input: [
        { role: 'developer', content: 'Be brief.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] },
        {
          type: 'message',
          id: 'msg_1',
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: 'Hello', annotations: [], logprobs: [] }],
        },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{"q":1}' },
        { type: 'function_call_output', call_id: 'call_1', output: '42' },
      ],
      metadata: { a: 'b' },
      store: false,
    });
    expect(request.store).toBe(false);
    expect(parseResponsesRequest({ model: 'm', input: 'Hi' }).input).toBe('Hi');
  });

  it.each([
    [{ input: 'Hi' }, 'model'],
    [{ model: 'm' }, 'input'],
    [{ model: 'm', input: [] }, 'input'],
    [{ model: 'm', input: 'Hi', temperature: 3 }, 'temperature'],
    [{ model: 'm', input: 'Hi', top_p: 'high' }, 'top_p'],
    [{ model: 'm', input: 'Hi', max_output_tokens: 0 }, 'max_output_tokens'],
    [{ model: 'm', input: 'Hi', text: { format: { type: 'xml' } } }, 'text.format.type'],
    [{ model: 'm', input: 'Hi', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ model: 'm', input: 'Hi', conversation: 'conv_1' }, 'conversation'],
    [{ model: 'm', input: 'Hi', background: true }, 'background'],
    [{ model: 'm', input: 'Hi', service_tier: 'priority' }, 'service_tier'],
    [{ model: 'm', input: 'Hi', stream_options: {} }, 'stream_options'],
    [{ model: 'm', input: 'Hi', include: ['message.output_text.logprobs'] }, 'include'],
    [{ model: 'm', input: 'Hi', reasoning: { summary: 'auto' } }, 'reasoning.summary'],
  ])('refuses %j naming %s', (body, param) => {
    expect(refusal(body).param).toBe(param);
  });

  it("words a type error as chat does (OpenAI's wording)", () => {
    expect(refusal({ model: 'm', input: 'Hi', temperature: 'hot' }).message).toMatch(
      /^Invalid type for 'temperature': expected a number, but got a string instead\./,
    );
    expect(refusal({ model: 'm', input: 'Hi', surprise: 1 })).toMatchObject({
      param: 'surprise',
    });
  });

  it('refuses more than 16 metadata pairs', () => {
    const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(refusal({ model: 'm', input: 'Hi', metadata }).param).toBe('metadata');
  });

  it('counts input tokens of the prompt fields only', () => {
    expect(() =>
      parseInputTokensRequest({ model: 'm', input: 'Hi', max_output_tokens: 5 }),
    ).toThrow(BadRequestError);
    expect(parseInputTokensRequest({ model: 'm', input: 'Hi', instructions: 'x' }).model).toBe('m');
  });
});

describe('the chat request a Responses request runs as', () => {
  it('puts the instructions first, then the earlier turns, then the input', () => {
    const request = parseResponsesRequest({
      model: 'qwen3-8b',
      instructions: 'Be brief.',
      input: 'And now?',
      max_output_tokens: 50,
      temperature: 0.5,
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' } } },
      tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object' } }],
      tool_choice: { type: 'function', name: 'lookup' },
      stream: true,
    });
    const chat = chatRequestOf(request, [
      { role: 'user', content: 'Before' },
      { role: 'assistant', content: 'Earlier answer' },
    ]);
    expect(chat).toMatchObject({
      model: 'qwen3-8b',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Before' },
        { role: 'assistant', content: 'Earlier answer' },
        { role: 'user', content: 'And now?' },
      ],
      max_completion_tokens: 50,
      temperature: 0.5,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' } },
      },
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('sends no response_format for text, which every backend serves', () => {
    const request = parseResponsesRequest({
      model: 'm',
      input: 'Hi',
      text: { format: { type: 'text' } },
    });
    expect(chatRequestOf(request, []).response_format).toBeUndefined();
  });

  it('joins function calls to the assistant turn and their outputs as tool messages', () => {
    const request = parseResponsesRequest({
      model: 'm',
      input: [
        { role: 'user', content: 'Weather?' },
        { type: 'function_call', call_id: 'c1', name: 'weather', arguments: '{}' },
        { type: 'function_call', call_id: 'c2', name: 'time', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'sunny' },
        { type: 'reasoning', summary: [] },
      ],
    });
    expect(messagesOfItems(request.input as never)).toEqual([
      { role: 'user', content: 'Weather?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'weather', arguments: '{}' } },
          { id: 'c2', type: 'function', function: { name: 'time', arguments: '{}' } },
        ],
      },
      { role: 'tool', content: 'sunny', tool_call_id: 'c1' },
    ]);
  });

  it('refuses an item id or call id longer than 256 characters, naming it: stored, never sent', () => {
    const long = `msg_${'x'.repeat(253)}`;
    expect(long).toHaveLength(257);
    const items = (item: Record<string, unknown>) => ({
      model: 'm',
      input: [{ role: 'user', content: 'Hi' }, { role: 'user', content: 'Hi' }, item],
    });
    for (const [item, param] of [
      [{ role: 'user', content: 'Hi', id: long }, 'input[2].id'],
      [{ role: 'assistant', content: 'Hi', id: long }, 'input[2].id'],
      [{ type: 'reasoning', summary: [], id: long }, 'input[2].id'],
      [
        { type: 'function_call', id: long, call_id: 'c', name: 'f', arguments: '{}' },
        'input[2].id',
      ],
      [{ type: 'function_call', call_id: long, name: 'f', arguments: '{}' }, 'input[2].call_id'],
      [{ type: 'function_call_output', call_id: long, output: 'x' }, 'input[2].call_id'],
      [{ type: 'function_call_output', id: long, call_id: 'c', output: 'x' }, 'input[2].id'],
    ] as const) {
      expect(refusal(items(item))).toEqual({
        message: `Invalid '${param}': string too long. Expected a string with maximum length 256, but got a string with length 257 instead.`,
        param,
        code: 'string_above_max_length',
      });
    }
    // 256 is accepted, as the token-count endpoint's input is the same.
    const fits = items({ role: 'user', content: 'Hi', id: long.slice(1) });
    expect(() => parseResponsesRequest(fits)).not.toThrow();
    expect(() =>
      parseInputTokensRequest(items({ type: 'reasoning', summary: [], id: long })),
    ).toThrow(BadRequestError);
  });

  it("refuses a text.format JSON schema past OpenAI's Structured Outputs limits, naming it", () => {
    const withSchema = (schema: Record<string, unknown>) => ({
      model: 'm',
      input: 'Hi',
      text: { format: { type: 'json_schema', name: 'answer', schema } },
    });
    const big = { type: 'object', description: 'x'.repeat(600_000) };
    expect(refusal(withSchema(big))).toMatchObject({
      param: 'text.format.schema',
      code: 'invalid_value',
    });
    expect(refusal(withSchema(big)).message).toContain('524288 bytes');
    expect(() =>
      parseResponsesRequest(withSchema({ type: 'object', properties: { a: { type: 'string' } } })),
    ).not.toThrow();
    expect(() => parseInputTokensRequest(withSchema(big))).toThrow(BadRequestError);
  });

  it("names chat's parameters as Responses does in the pipeline's 400s", () => {
    expect(responsesParamName('response_format')).toBe('text.format');
    expect(responsesParamName('max_completion_tokens')).toBe('max_output_tokens');
    expect(responsesParamName('tools')).toBe('tools');
  });
});
