import {
  PromptTokenCounter,
  renderLlama3,
  renderQwen3,
} from '../../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../../lib/config/load';
import { configWithLlama, LLAMA_8B_ID } from '../../support/llama-model';

const config = configWithLlama();
const counter = new PromptTokenCounter(config);
const hello = [{ role: 'user' as const, content: 'hello' }];
const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('prompt tokens with the real tokenizers', () => {
  beforeAll(() => counter.warmUp(), 60_000);

  it("counts a message with its chat template's special tokens, headers and preamble", async () => {
    // <|begin_of_text|>, the system header with Llama 3.1's date preamble, the user turn, the generation prompt.
    expect(await counter.count(LLAMA_8B_ID, hello)).toBe(36);
    // <|im_start|>user\nhello<|im_end|>\n + <|im_start|>assistant\n + the empty think block.
    expect(await counter.count('qwen3-32b', hello)).toBe(13);
    expect(await counter.count('qwen3-8b', hello)).toBe(13);
  });

  it('counts tool definitions, tool calls and tool results where the templates put them', async () => {
    const conversation = [
      { role: 'user' as const, content: 'Weather in Paris?' },
      {
        role: 'assistant' as const,
        content: null,
        tool_calls: [
          {
            id: 'c1',
            type: 'function' as const,
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool' as const, content: '{"temp_c": 21}', tool_call_id: 'c1' },
    ];
    for (const model of [LLAMA_8B_ID, 'qwen3-32b']) {
      const plain = await counter.count(model, conversation);
      const withTools = await counter.count(model, conversation, { tools: [weather] });
      expect(withTools - plain).toBeGreaterThan(40);
    }
    expect(renderLlama3(conversation, { tools: [weather] })).toContain('"name": "get_weather"');
    expect(renderQwen3(conversation, { tools: [weather] })).toContain(
      '<tool_response>\n{"temp_c": 21}\n</tool_response>',
    );
  });

  // A 4.8 KB `name` was counted as 0 tokens; so were refusals and tool-call ids.
  it.each(['qwen3-8b', 'qwen3-32b'])(
    'counts text in every message field a template can render (%s): name, refusal, tool-call ids',
    async (model) => {
      const long = 'Alexandra '.repeat(480); // 4.8 KB
      const words = await counter.count(model, [{ role: 'user', content: long }]);
      const base = await counter.count(model, hello);
      const named = await counter.count(model, [{ role: 'user', content: 'hello', name: long }]);
      expect(named - base).toBeGreaterThanOrEqual(words - base - 2);

      const answer = (extra: object) => [
        ...hello,
        { role: 'assistant' as const, content: 'no', ...extra },
        ...hello,
      ];
      const plain = await counter.count(model, answer({}));
      expect(
        (await counter.count(model, answer({ refusal: long }))) - plain,
      ).toBeGreaterThanOrEqual(words - base - 2);
      const call = (id: string) => ({
        id,
        type: 'function' as const,
        function: { name: 'f', arguments: '{}' },
      });
      const calls = [
        ...hello,
        { role: 'assistant' as const, content: null, tool_calls: [call(long)] },
        { role: 'tool' as const, content: 'ok', tool_call_id: long },
      ];
      const shortCalls = [
        ...hello,
        { role: 'assistant' as const, content: null, tool_calls: [call('c1')] },
        { role: 'tool' as const, content: 'ok', tool_call_id: 'c1' },
      ];
      expect(
        (await counter.count(model, calls)) - (await counter.count(model, shortCalls)),
      ).toBeGreaterThanOrEqual(2 * (words - base) - 10);
    },
  );

  it('counts many tokens for text a characters/4 estimate gets wrong', async () => {
    const cjk = await counter.count(LLAMA_8B_ID, [{ role: 'user', content: '龘'.repeat(2_000) }]);
    const emoji = await counter.count('qwen3-32b', [{ role: 'user', content: '😀'.repeat(1_000) }]);

    expect(cjk).toBeGreaterThan(4_000); // 2 tokens a character, not 1/4
    expect(emoji).toBeGreaterThan(1_000);
  });

  it('counts one token per UTF-8 byte for a model without a tokenizer, and images at a flat 765', async () => {
    const custom = loadConfig({ env: 'dev' });
    delete (custom.models['qwen3-32b'] as { tokenizer?: string }).tokenizer;
    const bytes = new PromptTokenCounter(custom);

    const text = await bytes.count('qwen3-32b', [{ role: 'user', content: 'héllo' }]);
    const image = await counter.count('qwen3-32b', [
      {
        role: 'user',
        content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }],
      },
    ]);

    expect(text).toBe(Buffer.byteLength('user\nhéllo') + 8);
    expect(image).toBeGreaterThan(765);
  });
});
