/**
 * "Copy as curl / Python / JavaScript" for the playground's request: the same body it sends (the
 * whole conversation, every parameter set), to chat completions or the Responses API. The key is
 * never put in a snippet: it reads `TIERLINE_API_KEY` from the environment, so a pasted snippet
 * does not leak the key into a chat or a log.
 */

import type { PlaygroundApi } from './playground-request';

/** A request body as JSON values (what `chatBody` / `responsesBody` build). */
export type SnippetBody = Record<string, unknown>;

const PATHS: Record<PlaygroundApi, string> = {
  chat: '/chat/completions',
  responses: '/responses',
};

/** The body as sent: streamed. */
export function requestBody(body: SnippetBody): SnippetBody {
  return { ...body, stream: true };
}

/** A POSIX shell single-quoted string. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curlSnippet(baseUrl: string, api: PlaygroundApi, body: SnippetBody): string {
  return [
    `curl -N ${shellQuote(`${baseUrl}${PATHS[api]}`)} \\`,
    `  -H "Authorization: Bearer $TIERLINE_API_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify(requestBody(body)))}`,
  ].join('\n');
}

/** A JSON value as a Python literal: `true` is `True`, `null` is `None`; strings as JSON writes them. */
export function pythonLiteral(value: unknown, indent = ''): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => `${inner}${pythonLiteral(v, inner)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  const lines = entries.map(
    ([k, v]) => `${inner}${JSON.stringify(k)}: ${pythonLiteral(v, inner)},`,
  );
  return `{\n${lines.join('\n')}\n${indent}}`;
}

/** Keyword arguments, one a line: `    model="m",`. */
function pythonArguments(body: SnippetBody): string[] {
  return Object.entries(requestBody(body)).map(
    ([key, value]) => `    ${key}=${pythonLiteral(value, '    ')},`,
  );
}

export function pythonSnippet(baseUrl: string, api: PlaygroundApi, body: SnippetBody): string {
  const call = api === 'chat' ? 'client.chat.completions.create(' : 'client.responses.create(';
  const print =
    api === 'chat'
      ? [
          'for chunk in stream:',
          '    if chunk.choices:',
          '        print(chunk.choices[0].delta.content or "", end="")',
        ]
      : [
          'for event in stream:',
          '    if event.type == "response.output_text.delta":',
          '        print(event.delta, end="")',
        ];
  return [
    'import os',
    'from openai import OpenAI',
    '',
    `client = OpenAI(api_key=os.environ["TIERLINE_API_KEY"], base_url=${JSON.stringify(baseUrl)})`,
    `stream = ${call}`,
    ...pythonArguments(body),
    ')',
    ...print,
  ].join('\n');
}

export function javascriptSnippet(baseUrl: string, api: PlaygroundApi, body: SnippetBody): string {
  const call = api === 'chat' ? 'client.chat.completions.create' : 'client.responses.create';
  const print =
    api === 'chat'
      ? 'for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");'
      : [
          'for await (const event of stream) {',
          '  if (event.type === "response.output_text.delta") process.stdout.write(event.delta);',
          '}',
        ].join('\n');
  return [
    "import OpenAI from 'openai';",
    '',
    `const client = new OpenAI({ apiKey: process.env.TIERLINE_API_KEY, baseURL: ${JSON.stringify(baseUrl)} });`,
    `const stream = await ${call}(${JSON.stringify(requestBody(body), null, 2)});`,
    print,
  ].join('\n');
}
