/**
 * The playground's request: a conversation and its parameters as the body of `POST
 * /v1/chat/completions` or of `POST /v1/responses`. Pure (no DOM), unit-tested in test/console/.
 */

export type PlaygroundApi = 'chat' | 'responses';

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/** The form's fields as typed: numbers stay text until sent, so an empty field means "the default". */
export interface PlaygroundSettings {
  model: string;
  system: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  /** One stop sequence a line. */
  stop: string;
  jsonMode: boolean;
}

/** A number field: empty is left out (the API's default), anything else is sent as typed. */
function numberField(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text);
}

/** The stop sequences: one a line, empty lines dropped. */
export function stopSequences(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** The chat completions body (without `stream`, which the client adds). */
export function chatBody(
  settings: PlaygroundSettings,
  turns: Turn[],
): { model: string; messages: { role: string; content: string }[] } & Record<string, unknown> {
  const stop = stopSequences(settings.stop);
  return {
    model: settings.model,
    messages: [
      ...(settings.system.trim() ? [{ role: 'system', content: settings.system }] : []),
      ...turns,
    ],
    ...defined({
      max_completion_tokens: numberField(settings.maxTokens),
      temperature: numberField(settings.temperature),
      top_p: numberField(settings.topP),
      stop: stop.length > 0 ? stop : undefined,
      response_format: settings.jsonMode ? { type: 'json_object' } : undefined,
    }),
  };
}

/**
 * The Responses body: the system prompt as `instructions`, the turns as `input`. Responses has no
 * stop sequences, so the page disables that field in this mode and none is sent.
 */
export function responsesBody(
  settings: PlaygroundSettings,
  turns: Turn[],
): { model: string; input: { role: string; content: string }[] } & Record<string, unknown> {
  return {
    model: settings.model,
    input: turns,
    ...defined({
      instructions: settings.system.trim() ? settings.system : undefined,
      max_output_tokens: numberField(settings.maxTokens),
      temperature: numberField(settings.temperature),
      top_p: numberField(settings.topP),
      text: settings.jsonMode ? { format: { type: 'json_object' } } : undefined,
    }),
  };
}
