import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import type { ChatReply, ConsoleApi, ModelPlan, Plan } from '../api-client';
import { formatInteger, formatMs, formatUsd, replyCostUsd } from '../format';
import { fineTunedModels, modelPricing } from '../jobs-format';
import {
  chatBody,
  type PlaygroundApi,
  type PlaygroundSettings,
  responsesBody,
  type Turn,
} from '../playground-request';
import { curlSnippet, javascriptSnippet, pythonSnippet } from '../snippets';
import { CopyButton, ErrorNotice, useLoad } from '../ui';

/**
 * The Playground (every tier): a conversation of several turns with any model of the plan or a
 * fine-tuned model of the account, with its parameters, streamed through chat completions or the
 * Responses API, and what each reply cost.
 */

type SetSettings = (patch: Partial<PlaygroundSettings>) => void;
const typed = (e: Event) => (e.target as HTMLInputElement).value;

function ModelField({
  plan,
  fineTuned,
  value,
  set,
}: {
  plan: Plan;
  fineTuned: string[];
  value: string;
  set: SetSettings;
}) {
  return html`<label>Model
    <select name="model" value=${value} onChange=${(e: Event) => set({ model: typed(e) })}>
      <optgroup label="Models of your plan">
        ${plan.models.map((m) => html`<option value=${m.id}>${m.display_name} (${m.id})</option>`)}
      </optgroup>
      ${
        fineTuned.length > 0
          ? html`<optgroup label="Your fine-tuned models">
              ${fineTuned.map((id) => html`<option value=${id}>${id}</option>`)}
            </optgroup>`
          : null
      }
    </select>
  </label>`;
}

function Parameters({
  settings,
  set,
  mode,
  maxOutput,
}: {
  settings: PlaygroundSettings;
  set: SetSettings;
  mode: PlaygroundApi;
  maxOutput: number | undefined;
}) {
  return html`<fieldset class="parameters">
    <legend>Parameters (empty: the model's default)</legend>
    <label>Max tokens
      <input name="max_tokens" type="number" min="1" max=${maxOutput} value=${settings.maxTokens}
        onInput=${(e: Event) => set({ maxTokens: typed(e) })} /></label>
    <label>Temperature (0 to 2)
      <input name="temperature" type="number" min="0" max="2" step="0.1" value=${settings.temperature}
        onInput=${(e: Event) => set({ temperature: typed(e) })} /></label>
    <label>Top P (0 to 1)
      <input name="top_p" type="number" min="0" max="1" step="0.05" value=${settings.topP}
        onInput=${(e: Event) => set({ topP: typed(e) })} /></label>
    <label>Stop sequences (one a line, at most 4)
      <textarea name="stop" rows="2" value=${settings.stop} disabled=${mode === 'responses'}
        aria-describedby="stop-note" onInput=${(e: Event) => set({ stop: typed(e) })}></textarea>
      <span id="stop-note" class="muted">${mode === 'responses' ? 'The Responses API has no stop sequences.' : 'The reply ends before any of them.'}</span>
    </label>
    <label class="check"><input name="json_mode" type="checkbox" checked=${settings.jsonMode}
      onChange=${(e: Event) => set({ jsonMode: (e.target as HTMLInputElement).checked })} /> JSON mode: the reply is one JSON object (say JSON in the prompt)</label>
  </fieldset>`;
}

function ApiSwitch({
  mode,
  onChange,
}: {
  mode: PlaygroundApi;
  onChange: (m: PlaygroundApi) => void;
}) {
  const option = (value: PlaygroundApi, label: string) =>
    html`<label class="check"><input type="radio" name="api" value=${value} checked=${mode === value}
      onChange=${() => onChange(value)} /> ${label}</label>`;
  return html`<fieldset class="parameters">
    <legend>API</legend>
    ${option('chat', 'Chat completions (POST /v1/chat/completions)')}
    ${option('responses', 'Responses (POST /v1/responses)')}
  </fieldset>`;
}

function Conversation({
  turns,
  streaming,
  output,
}: {
  turns: Turn[];
  streaming: boolean;
  output: string;
}) {
  if (turns.length === 0) {
    return html`<p class="muted" data-testid="reply">The conversation appears here as it streams.</p>`;
  }
  return html`<ol class="conversation" aria-label="Conversation">
    ${turns.map(
      (
        t,
        i,
      ) => html`<li class=${t.role} data-testid=${t.role === 'assistant' ? 'assistant-turn' : 'user-turn'} key=${i}>
        <span class="speaker">${t.role === 'user' ? 'You' : 'Model'}</span><span class="turn-text">${t.content}</span></li>`,
    )}
    ${
      streaming
        ? html`<li class="assistant" data-testid="reply" aria-live="polite" aria-busy="true">
            <span class="speaker">Model</span><span class="turn-text">${output}</span></li>`
        : null
    }
  </ol>`;
}

function ReplyFigures({
  reply,
  pricing,
}: {
  reply: ChatReply;
  pricing: ModelPlan['pricing'] | undefined;
}) {
  return html`<dl class="figures" data-testid="reply-stats">
      <div><dt>Tokens</dt><dd>${reply.usage ? `${formatInteger(reply.usage.prompt_tokens)} in, ${formatInteger(reply.usage.completion_tokens)} out` : '—'}</dd></div>
      <div><dt>Cost</dt><dd>${reply.usage && pricing ? formatUsd(replyCostUsd(reply.usage, pricing)) : '—'}</dd></div>
      <div><dt>Time to first token</dt><dd>${reply.ttftMs === undefined ? '—' : formatMs(reply.ttftMs)}</dd></div>
      <div><dt>Total time</dt><dd>${formatMs(reply.totalMs)}</dd></div>
      <div><dt>Finish reason</dt><dd>${reply.finishReason ?? '—'}</dd></div>
    </dl>
    <details open>
      <summary>Rate-limit headers of this reply</summary>
      <dl class="headers">
        ${Object.entries(reply.rateLimit).map(([name, value]) => html`<div><dt><code>${name}</code></dt><dd>${value}</dd></div>`)}
      </dl>
    </details>`;
}

/** The snippets send what the next Send would: the conversation so far and the message typed. */
function Snippets({
  baseUrl,
  mode,
  settings,
  turns,
}: {
  baseUrl: string;
  mode: PlaygroundApi;
  settings: PlaygroundSettings;
  turns: Turn[];
}) {
  const body = mode === 'chat' ? chatBody(settings, turns) : responsesBody(settings, turns);
  const snippets = [
    ['curl', curlSnippet(baseUrl, mode, body)],
    ['Python', pythonSnippet(baseUrl, mode, body)],
    ['JavaScript', javascriptSnippet(baseUrl, mode, body)],
  ] as const;
  return html`<h2>Use it in code</h2>
    <p class="muted">The snippets send this conversation with your message and parameters, as the playground would. They read your key from <code>TIERLINE_API_KEY</code>: it is never copied into them.</p>
    <div class="actions">
      ${snippets.map(([language, code]) => html`<${CopyButton} text=${code} label=${`Copy as ${language}`} />`)}
    </div>
    ${snippets.map(
      ([language, code]) => html`<details>
        <summary>Show the ${language} snippet</summary>
        <pre tabindex="0"><code>${code}</code></pre>
      </details>`,
    )}`;
}

export function PlaygroundPage({
  api,
  plan,
  baseUrl,
}: {
  api: ConsoleApi;
  plan: Plan;
  baseUrl: string;
}) {
  const [settings, setSettings] = useState<PlaygroundSettings>({
    model: plan.models[0]?.id ?? '',
    system: 'You are a helpful assistant.',
    maxTokens: '256',
    temperature: '',
    topP: '',
    stop: '',
    jsonMode: false,
  });
  const [mode, setMode] = useState<PlaygroundApi>('chat');
  const [draft, setDraft] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [output, setOutput] = useState('');
  const [reply, setReply] = useState<ChatReply | undefined>();
  const [error, setError] = useState<unknown>();
  const [streaming, setStreaming] = useState(false);
  const abort = useRef<AbortController | undefined>(undefined);
  const models = useLoad(() => api.models(), [api]);
  const fineTuned = fineTunedModels(models.data ?? []).map((m) => m.id);
  const set: SetSettings = (patch) => setSettings({ ...settings, ...patch });
  const model = modelPricing(plan, settings.model);

  const send = async (event: Event) => {
    event.preventDefault();
    const asked: Turn[] = [...turns, { role: 'user', content: draft }];
    setError(undefined);
    setReply(undefined);
    setOutput('');
    setTurns(asked);
    setDraft('');
    setStreaming(true);
    abort.current = new AbortController();
    let streamed = '';
    const onText = (piece: string) => {
      streamed += piece;
      setOutput(streamed);
    };
    try {
      const result =
        mode === 'chat'
          ? await api.chat(chatBody(settings, asked), onText, abort.current.signal)
          : await api.respond(responsesBody(settings, asked), onText, abort.current.signal);
      setReply(result);
      setTurns([...asked, { role: 'assistant', content: result.text }]);
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') {
        // What was streamed before Stop stays: it is what the model said, and it was billed.
        setTurns([...asked, { role: 'assistant', content: streamed }]);
      } else {
        // Not answered: the message goes back into the box to send again, not into the conversation.
        setTurns(turns);
        setDraft(draft);
        setError(e);
      }
    } finally {
      setStreaming(false);
    }
  };

  return html`<section aria-labelledby="playground-title">
    <h1 id="playground-title">Playground</h1>
    <p class="lead">Chat with the models of your plan and your fine-tuned models. Replies count against your limits and are billed like any request.</p>
    <form class="playground" onSubmit=${send}>
      <${ModelField} plan=${plan} fineTuned=${fineTuned} value=${settings.model} set=${set} />
      <${ApiSwitch} mode=${mode} onChange=${setMode} />
      <label>System prompt
        <textarea name="system" rows="2" value=${settings.system}
          onInput=${(e: Event) => set({ system: typed(e) })}></textarea>
      </label>
      <${Parameters} settings=${settings} set=${set} mode=${mode} maxOutput=${model?.max_output_tokens} />
      <h2>Conversation</h2>
      <${Conversation} turns=${turns} streaming=${streaming} output=${output} />
      <label>Message
        <textarea name="message" rows="4" required value=${draft}
          onInput=${(e: Event) => setDraft(typed(e))}></textarea>
      </label>
      <div class="actions">
        <button type="submit" disabled=${streaming || !draft.trim() || !settings.model}>Send</button>
        ${streaming ? html`<button type="button" class="secondary" onClick=${() => abort.current?.abort()}>Stop</button>` : null}
        <button type="button" class="secondary" disabled=${streaming || turns.length === 0}
          onClick=${() => {
            setTurns([]);
            setReply(undefined);
          }}>New conversation</button>
      </div>
    </form>
    <${ErrorNotice} error=${error} />
    ${reply ? html`<h2>Last reply</h2><${ReplyFigures} reply=${reply} pricing=${model?.pricing} />` : null}
    <${Snippets} baseUrl=${baseUrl} mode=${mode} settings=${settings}
      turns=${draft.trim() ? [...turns, { role: 'user', content: draft }] : turns} />
  </section>`;
}
