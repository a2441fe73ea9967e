import { fitToContext } from '../../../lambda/http/completion-pipeline';
import type { ChatMessage, ChatRequest } from '../../../lambda/inference/chat-request';
import { PromptTokenCounter } from '../../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../../lib/config/load';

/**
 * Responses' `truncation: auto` drops the oldest turns until the prompt fits. Each try counts the
 * whole prompt with the model's real tokenizer: trying one drop at a time made a 289 KB body of
 * 4,000 short messages cost 515 s of CPU before it was admitted (free, and past every timeout).
 */

const MODEL = 'qwen3-8b';
const WINDOW = 2_000;
const config = loadConfig({
  env: 'dev',
  overrides: { models: { [MODEL]: { contextWindow: WINDOW, maxOutputTokens: 100 } } },
});
const modelConfig = config.models[MODEL];

/** The real tokenizer, its whole-prompt counts counted. */
function countingCounter() {
  const real = new PromptTokenCounter(config);
  const counter = {
    calls: 0,
    countUpTo: (...args: Parameters<PromptTokenCounter['countUpTo']>) => {
      counter.calls += 1;
      return real.countUpTo(...args);
    },
  };
  return { counter, real };
}

const turns = (n: number): ChatMessage[] =>
  Array.from({ length: n }, (_, i) => ({
    role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
    content: `message number ${i} with a few more words`,
  }));

describe('fitToContext: the newest turns that fit, in a number of counts that grows slowly', () => {
  beforeAll(() => new PromptTokenCounter(config).warmUp([MODEL]));

  it('keeps the system message and the newest turns that fit, counting O(log n) times', async () => {
    const { counter, real } = countingCounter();
    const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, ...turns(3_000)];
    const request: ChatRequest = { model: MODEL, messages, max_completion_tokens: 50 };
    if (!modelConfig) throw new Error('no model config');
    const fitted = await fitToContext(counter, request, MODEL, modelConfig, MODEL);

    expect(fitted.messages[0]).toEqual(messages[0]);
    expect(fitted.messages.at(-1)).toEqual(messages.at(-1));
    const kept = fitted.messages.length - 1;
    // The newest `kept` turns fit; one more does not.
    const withKept = (n: number) => [messages[0] as ChatMessage, ...messages.slice(-n)];
    expect((await real.count(MODEL, withKept(kept))) + 50).toBeLessThanOrEqual(WINDOW);
    expect((await real.count(MODEL, withKept(kept + 1))) + 50).toBeGreaterThan(WINDOW);
    expect(counter.calls).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(messages.length)) + 2);
  });

  it('never leads with a tool answer cut from its call, and fails when only the last turn is left', async () => {
    const { counter, real } = countingCounter();
    const call: ChatMessage = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    };
    const messages: ChatMessage[] = [
      ...turns(400),
      call,
      { role: 'tool', tool_call_id: 'c1', content: 'result '.repeat(20) },
      { role: 'tool', tool_call_id: 'c1', content: 'more' },
      { role: 'user', content: 'and?' },
    ];
    if (!modelConfig) throw new Error('no model config');
    const fitted = await fitToContext(
      counter,
      { model: MODEL, messages, max_completion_tokens: 1_900 },
      MODEL,
      modelConfig,
      MODEL,
    );
    expect(fitted.messages[0]?.role).not.toBe('tool');
    expect((await real.count(MODEL, fitted.messages)) + 1_900).toBeLessThanOrEqual(WINDOW);

    const tooLong = [{ role: 'user' as const, content: 'words '.repeat(3_000) }];
    await expect(
      fitToContext(counter, { model: MODEL, messages: tooLong }, MODEL, modelConfig, MODEL),
    ).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
  });
});
