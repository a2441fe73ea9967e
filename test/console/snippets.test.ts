import { execFileSync } from 'node:child_process';
import {
  chatBody,
  type PlaygroundSettings,
  responsesBody,
} from '../../console/src/playground-request';
import {
  curlSnippet,
  javascriptSnippet,
  pythonLiteral,
  pythonSnippet,
  requestBody,
} from '../../console/src/snippets';

const settings: PlaygroundSettings = {
  model: 'qwen3-8b',
  system: "Be brief. Don't ramble.",
  maxTokens: '64',
  temperature: '0.3',
  topP: '',
  stop: 'END',
  jsonMode: true,
};
const turns = [
  { role: 'user' as const, content: 'Say "hi"' },
  { role: 'assistant' as const, content: "hi, it's me" },
  { role: 'user' as const, content: 'again' },
];
const chat = chatBody(settings, turns);
const responses = responsesBody(settings, turns);

/** Python's own parser: the snippet is a valid program (parsed, not run: it would call the API). */
function pythonParses(source: string): void {
  execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], {
    input: source,
  });
}

describe('playground "copy as" snippets', () => {
  it('never contain the key, only the environment variable', () => {
    for (const snippet of [curlSnippet, pythonSnippet, javascriptSnippet].flatMap((f) => [
      f('https://h/v1', 'chat', chat),
      f('https://h/v1', 'responses', responses),
    ])) {
      expect(snippet).toContain('TIERLINE_API_KEY');
      expect(snippet).not.toMatch(/tl_[0-9A-Za-z]{10}/);
    }
  });

  it('quote the body for the shell: the shell hands curl the exact JSON the playground sends', () => {
    for (const [api, body, path] of [
      ['chat', chat, '/chat/completions'],
      ['responses', responses, '/responses'],
    ] as const) {
      const snippet = curlSnippet('https://h/v1', api, body);
      expect(snippet).toContain(`'https://h/v1${path}'`);
      const dataArgument = snippet.split('-d ')[1] as string;
      const parsed = execFileSync('sh', ['-c', `printf %s ${dataArgument}`]).toString();
      expect(JSON.parse(parsed)).toEqual({ ...body, stream: true });
    }
    expect(requestBody(chat)).toMatchObject({
      messages: [{ role: 'system', content: "Be brief. Don't ramble." }, ...turns],
      temperature: 0.3,
      stop: ['END'],
      response_format: { type: 'json_object' },
      stream: true,
    });
  });

  it('write Python that parses, with the conversation and every parameter as Python values', () => {
    const chatPython = pythonSnippet('https://h/v1', 'chat', chat);
    pythonParses(chatPython);
    expect(chatPython).toContain('client.chat.completions.create(');
    expect(chatPython).toContain('    stream=True,');
    expect(chatPython).toContain('    temperature=0.3,');
    expect(chatPython).toContain('"content": "hi, it\'s me",');
    const responsesPython = pythonSnippet('https://h/v1', 'responses', responses);
    pythonParses(responsesPython);
    expect(responsesPython).toContain('client.responses.create(');
    expect(responsesPython).toContain('event.type == "response.output_text.delta"');
    expect(pythonLiteral({ a: [true, null, false, 'x"y'] })).toBe(
      '{\n    "a": [\n        True,\n        None,\n        False,\n        "x\\"y",\n    ],\n}',
    );
  });

  it('write JavaScript that parses, calling the API the playground uses', () => {
    for (const [api, body, call] of [
      ['chat', chat, 'client.chat.completions.create'],
      ['responses', responses, 'client.responses.create'],
    ] as const) {
      const source = javascriptSnippet('https://h/v1', api, body);
      expect(source).toContain(call);
      expect(source).toContain('baseURL: "https://h/v1"');
      // Node's parser, as a module (top-level await, import); checked, never run.
      execFileSync('node', ['--input-type=module', '--check'], { input: source });
    }
  });
});
