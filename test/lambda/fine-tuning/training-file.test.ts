import {
  autoBatchSize,
  autoEpochs,
  resolveHyperparameters,
} from '../../../lambda/fine-tuning/hyperparameters';
import {
  checkTrainingFile,
  parseTrainingLine,
  trainingSequenceCap,
} from '../../../lambda/fine-tuning/training-file';
import { loadConfig } from '../../../lib/config/load';

const config = loadConfig({ env: 'dev' });
const good = JSON.stringify({
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
    { role: 'assistant', content: 'Hello', weight: 1 },
  ],
});

async function* chunks(...parts: (string | Uint8Array)[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}

const check = (content: AsyncIterable<Uint8Array>, bytes = 100) =>
  checkTrainingFile({
    fileId: 'file-x',
    param: 'training_file',
    bytes,
    content,
    model: 'qwen3-8b',
    config: config.fineTuning,
    // One token per character: enough to see that every conversation is counted once.
    countTokens: async (_model, messages) =>
      messages.reduce((n, m) => n + String(m.content).length, 0),
  });

describe('"auto" hyperparameters, as the training script resolves them', () => {
  it.each([
    [10, 10, 1],
    [34, 3, 1],
    [33, 4, 1],
    [5_000, 3, 10],
    [10_000, 2, 20],
    [20_000, 1, 40],
    [100_000, 1, 200],
    [500_000, 1, 256],
  ])('%i examples: %i epochs, batch size %i', (examples, epochs, batch) => {
    expect(autoEpochs(examples)).toBe(epochs);
    expect(autoBatchSize(examples)).toBe(batch);
    expect(
      resolveHyperparameters(
        { nEpochs: 'auto', batchSize: 'auto', learningRateMultiplier: 'auto' },
        examples,
      ),
    ).toEqual({ nEpochs: epochs, batchSize: batch, learningRateMultiplier: 1 });
  });
});

describe('the training file check', () => {
  it('counts examples and tokens across chunk boundaries, a last line without a newline included', async () => {
    const text = `${good}\n\n${good}\n${good}`;
    const bytes = Buffer.from(text);
    const split = [bytes.subarray(0, 7), bytes.subarray(7, 60), bytes.subarray(60)];
    const file = Array.from({ length: 4 }, () => text).join('\n');
    await expect(check(chunks(...split, '\n', file))).resolves.toEqual({
      examples: 15,
      tokens: 15 * 7,
    });
  });

  it('names five bad lines and counts the rest', async () => {
    const bad = Array.from({ length: 8 }, () => '{"messages": "no"}').join('\n');
    await expect(
      check(chunks(`${Array(10).fill(good).join('\n')}\n${bad}\n`)),
    ).rejects.toMatchObject({
      status: 400,
      param: 'training_file',
      message: expect.stringMatching(
        /line 11: .*line 15: must be an object with a "messages" array \(and 3 more lines\)\.$/,
      ),
    });
  });

  it('refuses conversations longer than the training sequence cap up front, naming their lines and lengths', async () => {
    const cap = config.fineTuning.training.maxSequenceTokens;
    const long = JSON.stringify({
      messages: [
        { role: 'user', content: 'x'.repeat(cap) },
        { role: 'assistant', content: 'ok' },
      ],
    });
    const lines = [...Array(10).fill(good), long, good, long];
    await expect(check(chunks(`${lines.join('\n')}\n`))).rejects.toMatchObject({
      status: 400,
      param: 'training_file',
      code: 'training_example_too_long',
      message:
        `File file-x: a training example may have at most ${cap} tokens (the training sequence cap), and these ` +
        `are longer: line 11 (${cap + 2} tokens), line 13 (${cap + 2} tokens). Shorten or split those conversations.`,
    });
    // Exactly at the cap is accepted.
    const fits = JSON.stringify({
      messages: [
        { role: 'user', content: 'x'.repeat(cap - 2) },
        { role: 'assistant', content: 'ok' },
      ],
    });
    await expect(check(chunks([...Array(10).fill(good), fits].join('\n')))).resolves.toMatchObject({
      examples: 11,
    });
  });

  it('takes the cap it is given (the model context when it is smaller)', async () => {
    const line = JSON.stringify({
      messages: [
        { role: 'user', content: 'abcdef' },
        { role: 'assistant', content: 'gh' },
      ],
    });
    const file = Array(10).fill(line).join('\n');
    const run = (maxSequenceTokens: number) =>
      checkTrainingFile({
        fileId: 'file-x',
        param: 'training_file',
        bytes: 100,
        content: chunks(file),
        model: 'm',
        config: config.fineTuning,
        countTokens: async (_model, messages) =>
          messages.reduce((n, m) => n + String(m.content).length, 0),
        maxSequenceTokens,
      });
    await expect(run(8)).resolves.toEqual({ examples: 10, tokens: 80 });
    await expect(run(7)).rejects.toMatchObject({
      code: 'training_example_too_long',
      message: expect.stringMatching(/line 1 \(8 tokens\), line 2 .*\(and 5 more lines\)/),
    });
    expect(trainingSequenceCap(config.fineTuning, { contextWindow: 1024 })).toBe(1024);
    expect(trainingSequenceCap(config.fineTuning, { contextWindow: 1_000_000 })).toBe(
      config.fineTuning.training.maxSequenceTokens,
    );
  });

  it('refuses text that is not UTF-8, and a file over the configured size, without reading it', async () => {
    await expect(check(chunks(Buffer.from([0xff, 0xfe, 0x0a])))).rejects.toMatchObject({
      message: 'File file-x: it is not UTF-8 text.',
    });
    const never: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => {
        throw new Error('read');
      },
    };
    await expect(check(never, config.fineTuning.training.maxFileBytes + 1)).rejects.toMatchObject({
      code: 'file_too_large',
    });
  });

  it('takes text parts and weight 0 turns, but needs one turn to learn from', () => {
    expect(parseTrainingLine(good)).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ]);
    expect(() =>
      parseTrainingLine(
        JSON.stringify({
          messages: [
            { role: 'user', content: 'q' },
            { role: 'assistant', content: 'a', weight: 0 },
          ],
        }),
      ),
    ).toThrow('needs at least one assistant message to learn from (with weight 1)');
    expect(() =>
      parseTrainingLine('{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}'),
    ).toThrow('messages[0].content[0] must be a text part');
    expect(() => parseTrainingLine('[1]')).toThrow('must be an object with a "messages" array');
    expect(() => parseTrainingLine('{')).toThrow(/^not valid JSON/);
  });
});
