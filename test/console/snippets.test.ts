import { execFileSync } from 'node:child_process';
import {
  curlSnippet,
  javascriptSnippet,
  pythonSnippet,
  requestBody,
} from '../../console/src/snippets';

const request = {
  model: 'qwen3-8b',
  system: "Be brief. Don't ramble.",
  user: 'Say "hi"',
  maxTokens: 64,
};

describe('playground "copy as" snippets', () => {
  it('never contain the key, only the environment variable', () => {
    for (const snippet of [curlSnippet, pythonSnippet, javascriptSnippet].map((f) =>
      f('https://h/v1', request),
    )) {
      expect(snippet).toContain('TIERLINE_API_KEY');
      expect(snippet).not.toMatch(/tl_[0-9A-Za-z]{10}/);
    }
  });

  it('quote the body for the shell: the shell hands curl the exact JSON', () => {
    const snippet = curlSnippet('https://h/v1', request);
    const dataArgument = snippet.split('-d ')[1] as string;
    const parsed = execFileSync('sh', ['-c', `printf %s ${dataArgument}`]).toString();
    expect(JSON.parse(parsed)).toEqual(requestBody(request));
    expect(requestBody(request)).toEqual({
      model: 'qwen3-8b',
      messages: [
        { role: 'system', content: "Be brief. Don't ramble." },
        { role: 'user', content: 'Say "hi"' },
      ],
      max_completion_tokens: 64,
      stream: true,
    });
  });

  it('leave out an empty system prompt and an unset max tokens', () => {
    const body = requestBody({ ...request, system: '  ', maxTokens: undefined });
    expect(body).toEqual({
      model: request.model,
      messages: [{ role: 'user', content: 'Say "hi"' }],
      stream: true,
    });
    expect(pythonSnippet('https://h/v1', { ...request, maxTokens: undefined })).not.toContain(
      'max_completion_tokens',
    );
    expect(javascriptSnippet('https://h/v1', request)).toContain('baseURL: "https://h/v1"');
  });
});
