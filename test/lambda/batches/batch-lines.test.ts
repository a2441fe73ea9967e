import {
  parseBatchLine,
  type RunnableLine,
  scanBatchFile,
} from '../../../lambda/batches/batch-lines';
import { parseChatRequest } from '../../../lambda/inference/chat-request';
import { PromptTokenCounter } from '../../../lambda/inference/prompt-tokens';
import {
  checkContextWindow,
  estimatePromptTokens,
  promptPastWindow,
} from '../../../lambda/inference/tokens';
import { costMicroUsd, pricesOf } from '../../../lambda/metering/pricing';
import { loadConfig } from '../../../lib/config/load';

const config = loadConfig({ env: 'dev' });
const counter = new PromptTokenCounter(config);
beforeAll(() => counter.warmUp(), 60_000);

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

/** What the chat route reserves for the same body (lambda/http/routes/chat-completions.ts, before `admit`). */
async function chatReservation(body: Record<string, unknown>) {
  const request = parseChatRequest(body);
  const model = config.models[request.model];
  if (!model) throw new Error(`no model ${request.model}`);
  const inputTokens = await counter.count(request.model, request.messages, {
    tools: request.tools ?? undefined,
  });
  const clientMax = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const room = checkContextWindow(request.model, model.contextWindow, inputTokens, clientMax);
  const outputTokens = clientMax ?? Math.min(model.maxOutputTokens, room);
  return { inputTokens, outputTokens };
}

describe('batch lines reserve what chat would reserve', () => {
  const bodies: Record<string, Record<string, unknown>> = {
    english: {
      model: 'qwen3-14b',
      max_completion_tokens: 200,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Summarize the plot of Hamlet in two sentences.' },
      ],
    },
    'rare CJK characters': {
      model: 'qwen3-8b',
      max_completion_tokens: 50,
      messages: [{ role: 'user', content: '龘靐齉齾爩鱻麤龗灪吁'.repeat(200) }],
    },
    emoji: { model: 'qwen3-32b', messages: [{ role: 'user', content: '🦙🚀🧪'.repeat(300) }] },
    digits: {
      model: 'qwen3-8b',
      messages: [{ role: 'user', content: Array.from({ length: 500 }, (_, i) => i).join(' ') }],
    },
    'tools and no max tokens': {
      model: 'qwen3-14b',
      tools: TOOLS,
      messages: [{ role: 'user', content: 'Weather in Lyon?' }],
    },
  };

  for (const [name, body] of Object.entries(bodies)) {
    it(`${name}: prompt tokens, output allowance and maximum cost`, async () => {
      // Qwen3 is an Enterprise model.
      const tier = body.model === 'qwen3-32b' ? 'enterprise' : 'developer';
      const parsed = parseBatchLine(
        JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body }),
        1,
        config,
        tier,
      );
      if (parsed.kind !== 'run') throw new Error(`not runnable: ${JSON.stringify(parsed)}`);
      const chat = await chatReservation(body);

      expect({
        inputTokens: parsed.line.promptTokens,
        outputTokens: parsed.line.maxTokens,
      }).toEqual(chat);
      expect(parsed.line.body.max_tokens).toBe(chat.outputTokens);
      const offer = config.tiers[tier].models[body.model as string];
      if (!offer) throw new Error('model not offered');
      expect(parsed.line.maxCostMicroUsd).toBe(
        costMicroUsd(chat, pricesOf(offer), config.tiers[tier].batch.discountPercent),
      );
    });
  }

  it('counts rare characters as the tokenizer does, not as characters / 4 (which undercounts them)', () => {
    const body = bodies['rare CJK characters'] as { messages: never };
    const parsed = parseBatchLine(
      JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body }),
      1,
      config,
      'developer',
    );
    if (parsed.kind !== 'run') throw new Error('not runnable');
    expect(parsed.line.promptTokens).toBeGreaterThan(2 * estimatePromptTokens(body.messages));
  });

  it('rejects a line whose prompt cannot fit the context window, as chat does (400 context_length_exceeded)', () => {
    const body = {
      model: 'qwen3-8b',
      max_completion_tokens: 100,
      messages: [{ role: 'user', content: 'word '.repeat(140_000) }],
    };
    const parsed = parseBatchLine(
      JSON.stringify({ custom_id: 'big', method: 'POST', url: '/v1/chat/completions', body }),
      1,
      config,
      'developer',
    );
    expect(parsed).toMatchObject({
      kind: 'reject',
      line: {
        customId: 'big',
        statusCode: 400,
        error: { code: 'context_length_exceeded', param: 'messages' },
      },
    });
  });
});

describe('a batch file costs what can be admitted, not what it holds', () => {
  const MODEL = 'qwen3-8b';
  const WINDOW = config.models[MODEL]?.contextWindow ?? 0;
  const envelope = (customId: string, url: string, body: Record<string, unknown>) =>
    JSON.stringify({ custom_id: customId, method: 'POST', url, body });
  const chatLine = (customId: string, content = `say ${customId}`) =>
    envelope(customId, '/v1/chat/completions', {
      model: MODEL,
      max_completion_tokens: 10,
      messages: [{ role: 'user', content }],
    });
  // About 4 times the window: counted whole, the refusal would name its exact count.
  const HUGE = 'The quick brown fox jumps over the lazy dog. '.repeat(12_000);

  it("a prompt past its model's context window is refused as chat refuses it, its count stopped there", () => {
    const parsed = parseBatchLine(chatLine('huge', HUGE), 1, config, 'developer');

    expect(parsed).toMatchObject({ kind: 'reject', line: { customId: 'huge', statusCode: 400 } });
    if (parsed.kind !== 'reject') throw new Error('not rejected');
    // promptPastWindow is what the chat pipeline throws for a prompt over the window by itself.
    const chat = promptPastWindow(MODEL, WINDOW);
    expect(parsed.line.error).toEqual({
      message: chat.message,
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    });
  });

  it('a /v1/responses line past the window names `input`, as POST /v1/responses does', () => {
    const text = envelope('huge', '/v1/responses', {
      model: MODEL,
      max_output_tokens: 10,
      input: HUGE,
    });
    const parsed = parseBatchLine(text, 1, config, 'developer', new Map(), '/v1/responses');

    expect(parsed).toMatchObject({
      kind: 'reject',
      line: {
        statusCode: 400,
        error: { message: promptPastWindow(MODEL, WINDOW).message, param: 'input' },
      },
    });
  });

  it('a prompt within the window is still counted exactly', () => {
    const content = 'word '.repeat(30_000);
    const parsed = parseBatchLine(chatLine('big', content), 1, config, 'developer');
    if (parsed.kind !== 'run') throw new Error(`not runnable: ${JSON.stringify(parsed)}`);
    expect(parsed.line.promptTokens).toBe(counter.countLoaded(MODEL, [{ role: 'user', content }]));
    expect(parsed.line.promptTokens).toBeLessThan(WINDOW);
  });

  describe("a line on a fine-tuned (`ft:`) model: its base model's tokenizer and window, as chat", () => {
    const FT = `ft:${MODEL}:cus_1:bot:AAAAAAAAAAAAAAAAAAAAAA`;
    const fineTunes = new Map([[FT, { baseModel: MODEL, adapterName: 'bot' }]]);
    const ftLine = (content: string) =>
      envelope('ft', '/v1/chat/completions', {
        model: FT,
        max_completion_tokens: 10,
        messages: [{ role: 'user', content }],
      });

    it('its prompt is counted with the base model tokenizer', () => {
      const content = 'Summarize the plot of Hamlet in two sentences.';
      const parsed = parseBatchLine(ftLine(content), 1, config, 'developer', fineTunes);
      if (parsed.kind !== 'run') throw new Error(`not runnable: ${JSON.stringify(parsed)}`);
      expect(parsed.line.promptTokens).toBe(
        counter.countLoaded(MODEL, [{ role: 'user', content }]),
      );
    });

    it("a prompt past the base model's window is refused, its count stopped there", () => {
      const parsed = parseBatchLine(ftLine(HUGE), 1, config, 'developer', fineTunes);
      expect(parsed).toMatchObject({
        kind: 'reject',
        line: {
          statusCode: 400,
          error: { message: promptPastWindow(FT, WINDOW).message, code: 'context_length_exceeded' },
        },
      });
    });
  });

  describe('a file that cannot run counts no prompt: its lines are only checked', () => {
    const LIMIT = 3;
    const capped = structuredClone(config);
    capped.tiers.developer.batch.maxLinesPerBatch = LIMIT;
    /** The characters of prompt the scan had tokenized, and its answer. */
    const scanned = (lines: string[]) => {
      const counting = jest.spyOn(PromptTokenCounter.prototype, 'countLoadedUpTo');
      try {
        const scan = scanBatchFile(
          lines.join('\n'),
          capped,
          'developer',
          new Map(),
          '/v1/chat/completions',
        );
        return { scan, counted: counting.mock.calls.length };
      } finally {
        counting.mockRestore();
      }
    };
    const big = 'The quick brown fox jumps over the lazy dog. '.repeat(2_000);

    it.each([
      [
        'its last line is not JSON',
        [chatLine('a', big), chatLine('b', big), 'not json'],
        'invalid_json_line',
      ],
      [
        'a custom_id comes twice',
        [chatLine('a', big), chatLine('b', big), chatLine('a', big)],
        'duplicate_custom_id',
      ],
      [
        'it has more lines than the tier takes',
        [chatLine('a', big), chatLine('b', big), chatLine('c', big), chatLine('d', big)],
        'too_many_lines',
      ],
    ])('when %s', (_, lines, code) => {
      const { scan, counted } = scanned(lines);
      expect(scan.problems.map((p) => p.code)).toEqual([code]);
      expect(counted).toBe(0);
    });

    it('a file that can run has every line counted, once', () => {
      const { scan, counted } = scanned([chatLine('a', big), chatLine('b')]);
      expect(scan.problems).toEqual([]);
      expect(counted).toBe(2);
      expect(scan.enqueued.get(MODEL)).toBeGreaterThan(18_000);
    });
  });

  describe('a file with more lines than the tier takes', () => {
    const LIMIT = 3;
    const capped = structuredClone(config);
    capped.tiers.developer.batch.maxLinesPerBatch = LIMIT;
    const scan = (lines: string[]) =>
      scanBatchFile(lines.join('\n'), capped, 'developer', new Map(), '/v1/chat/completions');

    it('reports too_many_lines with the true count of non-blank lines', () => {
      const lines = [
        chatLine('a'),
        '',
        chatLine('b'),
        '   \t',
        chatLine('c'),
        '\r',
        chatLine('d'),
        '\u00a0\u2028',
        chatLine('e'),
        '',
      ];
      const { problems, lines: count } = scan(lines);

      expect(count).toBe(5);
      expect(problems).toEqual([
        {
          code: 'too_many_lines',
          message: `The file has 5 lines; a batch takes at most ${LIMIT}.`,
          line: LIMIT + 1,
          param: null,
        },
      ]);
    });

    it('parses no line past the limit: their problems are not looked for, those within it are', () => {
      const lines = [
        chatLine('a'),
        'not json (line 2)',
        chatLine('a'), // a duplicate within the limit
        chatLine('d'),
        'not json either (line 5, past the limit)',
        chatLine('a'), // a duplicate past the limit
      ];
      const { problems, lines: count } = scan(lines);

      expect(count).toBe(6);
      expect(problems.map(({ code, line }) => ({ code, line }))).toEqual([
        { code: 'too_many_lines', line: LIMIT + 1 },
        { code: 'invalid_json_line', line: 2 },
        { code: 'duplicate_custom_id', line: 3 },
      ]);
    });

    it('a file within the limit is scanned whole, as before', () => {
      const {
        problems,
        lines: count,
        maxCost,
        enqueued,
      } = scan([chatLine('a'), '', chatLine('b'), chatLine('c')]);

      expect({ problems, count }).toEqual({ problems: [], count: LIMIT });
      const each = ['a', 'b', 'c'].map((id) =>
        parseBatchLine(chatLine(id), 1, capped, 'developer'),
      );
      const sum = (of: (line: RunnableLine) => number) =>
        each.reduce((total, parsed) => total + (parsed.kind === 'run' ? of(parsed.line) : NaN), 0);
      expect(maxCost).toBe(sum((line) => line.maxCostMicroUsd));
      expect(enqueued).toEqual(
        new Map([[MODEL, sum((line) => line.promptTokens + line.maxTokens)]]),
      );
    });
  });
});
