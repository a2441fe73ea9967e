import {
  chatBody,
  type PlaygroundSettings,
  responsesBody,
  stopSequences,
  type Turn,
} from '../../console/src/playground-request';

const settings: PlaygroundSettings = {
  model: 'ft:qwen3-8b:org_1:support:abc',
  system: 'Be brief.',
  maxTokens: '64',
  temperature: '0.2',
  topP: '0.9',
  stop: 'END\n\n###',
  jsonMode: true,
};
const turns: Turn[] = [
  { role: 'user', content: 'hi' },
  { role: 'assistant', content: 'hello' },
  { role: 'user', content: 'again in JSON' },
];

describe('the playground request', () => {
  it('sends the whole conversation and every parameter set to chat completions', () => {
    expect(chatBody(settings, turns)).toEqual({
      model: 'ft:qwen3-8b:org_1:support:abc',
      messages: [{ role: 'system', content: 'Be brief.' }, ...turns],
      max_completion_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['END', '###'],
      response_format: { type: 'json_object' },
    });
  });

  it('sends the same conversation to the Responses API in its own names, without stop', () => {
    expect(responsesBody(settings, turns)).toEqual({
      model: 'ft:qwen3-8b:org_1:support:abc',
      input: turns,
      instructions: 'Be brief.',
      max_output_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      text: { format: { type: 'json_object' } },
    });
  });

  it('leaves out empty fields so the API applies its defaults', () => {
    const plain = {
      ...settings,
      system: ' ',
      maxTokens: '',
      temperature: '',
      topP: '',
      stop: '',
      jsonMode: false,
    };
    expect(chatBody(plain, turns.slice(0, 1))).toEqual({
      model: plain.model,
      messages: turns.slice(0, 1),
    });
    expect(responsesBody(plain, turns.slice(0, 1))).toEqual({
      model: plain.model,
      input: turns.slice(0, 1),
    });
    // A number typed wrong is sent as typed, for the API to refuse in words.
    expect(chatBody({ ...plain, temperature: '3' }, []).temperature).toBe(3);
    expect(stopSequences(' a \n\nb')).toEqual([' a ', 'b']);
  });
});
