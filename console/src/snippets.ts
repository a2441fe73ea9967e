/**
 * "Copy as curl / Python / JavaScript" for a playground request. The key is never put in a snippet:
 * it reads `TIERLINE_API_KEY` from the environment, so a pasted snippet does not leak the key into
 * a chat or a log.
 */

export interface PlaygroundRequest {
  model: string;
  system: string;
  user: string;
  maxTokens: number | undefined;
}

function messagesOf(request: PlaygroundRequest): { role: string; content: string }[] {
  return [
    ...(request.system.trim() ? [{ role: 'system', content: request.system }] : []),
    { role: 'user', content: request.user },
  ];
}

export function requestBody(request: PlaygroundRequest): Record<string, unknown> {
  return {
    model: request.model,
    messages: messagesOf(request),
    ...(request.maxTokens ? { max_completion_tokens: request.maxTokens } : {}),
    stream: true,
  };
}

/** A POSIX shell single-quoted string. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curlSnippet(baseUrl: string, request: PlaygroundRequest): string {
  return [
    `curl -N ${shellQuote(`${baseUrl}/chat/completions`)} \\`,
    `  -H "Authorization: Bearer $TIERLINE_API_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify(requestBody(request)))}`,
  ].join('\n');
}

export function pythonSnippet(baseUrl: string, request: PlaygroundRequest): string {
  const messages = JSON.stringify(messagesOf(request), null, 4).replace(/\n/g, '\n    ');
  return [
    'import os',
    'from openai import OpenAI',
    '',
    `client = OpenAI(api_key=os.environ["TIERLINE_API_KEY"], base_url=${JSON.stringify(baseUrl)})`,
    'stream = client.chat.completions.create(',
    `    model=${JSON.stringify(request.model)},`,
    `    messages=${messages},`,
    ...(request.maxTokens ? [`    max_completion_tokens=${request.maxTokens},`] : []),
    '    stream=True,',
    ')',
    'for chunk in stream:',
    '    if chunk.choices:',
    '        print(chunk.choices[0].delta.content or "", end="")',
  ].join('\n');
}

export function javascriptSnippet(baseUrl: string, request: PlaygroundRequest): string {
  const messages = JSON.stringify(messagesOf(request), null, 2).replace(/\n/g, '\n  ');
  return [
    "import OpenAI from 'openai';",
    '',
    `const client = new OpenAI({ apiKey: process.env.TIERLINE_API_KEY, baseURL: ${JSON.stringify(baseUrl)} });`,
    'const stream = await client.chat.completions.create({',
    `  model: ${JSON.stringify(request.model)},`,
    `  messages: ${messages},`,
    ...(request.maxTokens ? [`  max_completion_tokens: ${request.maxTokens},`] : []),
    '  stream: true,',
    '});',
    'for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");',
  ].join('\n');
}
