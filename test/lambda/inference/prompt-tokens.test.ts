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

describe('counting up to a ceiling (POST /responses/input_tokens)', () => {
  beforeAll(() => counter.warmUp(), 60_000);

  /** Deterministic text of `length` characters drawn from `alphabet` (a linear congruential walk). */
  function textOf(alphabet: readonly string[], length: number, seed: number): string {
    let state = seed;
    let text = '';
    while (text.length < length) {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      text += alphabet[state % alphabet.length];
    }
    return text;
  }

  const texts: Record<string, string> = {
    // Spaces to cut at, runs of spaces, newlines after punctuation, digits, accents, CJK.
    prose: textOf(
      ['word', ' ', '  ', '.\n', ',', ' 1234', 'é', '龘', "'s", '\t', '\n\n'],
      200_000,
      7,
    ),
    // No space at all: every cut is inside a pre-token and the text is counted again whole.
    'one word': textOf(['a', 'b', 'c', 'd'], 140_000, 11),
    // Surrogate pairs and no spaces: a cut never splits a pair.
    emoji: textOf(['😀', '🙂', 'x'], 140_000, 13),
  };

  it.each([LLAMA_8B_ID, 'qwen3-8b'])(
    'answers the exact count of long prompts below the ceiling (%s)',
    async (model) => {
      for (const [kind, content] of Object.entries(texts)) {
        const messages = [
          { role: 'system' as const, content: 'Be brief.' },
          { role: 'user' as const, content },
        ];
        const whole = await counter.count(model, messages, { tools: [weather] });
        const upTo = await counter.countUpTo(model, messages, { tools: [weather] }, whole);
        expect({ kind, count: upTo }).toEqual({ kind, count: whole });
      }
    },
    120_000,
  );

  it('stops tokenizing once the count is past the ceiling', async () => {
    // About 800,000 tokens; counting them all took seconds of CPU.
    const huge = 'The quick brown fox jumps over the lazy dog. '.repeat(90_000);
    const messages = [{ role: 'user' as const, content: huge }];

    const counted = await counter.countUpTo('qwen3-8b', messages, {}, 32_768);

    expect(counted).toBeGreaterThan(32_768);
    // One 64 Ki-character chunk past the ceiling at most: the rest was never tokenized.
    expect(counted).toBeLessThan(32_768 + 20_000);
  });

  it('stops on a prompt of one long word too, and on text in unrendered fields', async () => {
    const word = 'abcdefghij'.repeat(100_000);
    const inContent = await counter.countUpTo(
      'qwen3-8b',
      [{ role: 'user', content: word }],
      {},
      10_000,
    );
    const inName = await counter.countUpTo(
      'qwen3-8b',
      [{ role: 'user', content: 'hi', name: word }],
      {},
      10_000,
    );

    for (const counted of [inContent, inName]) {
      expect(counted).toBeGreaterThan(10_000);
      expect(counted).toBeLessThan(10_000 + 20_000);
    }
  });
});
