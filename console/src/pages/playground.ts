import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import type { ChatReply, ConsoleApi, Plan } from '../api-client';
import { formatInteger, formatMs, formatUsd, replyCostUsd } from '../format';
import { curlSnippet, javascriptSnippet, type PlaygroundRequest, pythonSnippet } from '../snippets';
import { CopyButton, ErrorNotice } from '../ui';

/** The Playground (every tier): streamed chat with any model of the plan, and what each reply cost. */
export function PlaygroundPage({
  api,
  plan,
  baseUrl,
}: {
  api: ConsoleApi;
  plan: Plan;
  baseUrl: string;
}) {
  const [request, setRequest] = useState<PlaygroundRequest>({
    model: plan.models[0]?.id ?? '',
    system: 'You are a helpful assistant.',
    user: '',
    maxTokens: 256,
  });
  const [output, setOutput] = useState('');
  const [reply, setReply] = useState<ChatReply | undefined>();
  const [error, setError] = useState<unknown>();
  const [streaming, setStreaming] = useState(false);
  const abort = useRef<AbortController | undefined>(undefined);
  const set = (patch: Partial<PlaygroundRequest>) => setRequest({ ...request, ...patch });
  const model = plan.models.find((m) => m.id === request.model);

  const send = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setReply(undefined);
    setOutput('');
    setStreaming(true);
    abort.current = new AbortController();
    try {
      const messages = [
        ...(request.system.trim() ? [{ role: 'system', content: request.system }] : []),
        { role: 'user', content: request.user },
      ];
      const result = await api.chat(
        {
          model: request.model,
          messages,
          ...(request.maxTokens ? { max_completion_tokens: request.maxTokens } : {}),
        },
        (piece) => setOutput((text) => text + piece),
        abort.current.signal,
      );
      setReply(result);
    } catch (e) {
      if ((e as Error)?.name !== 'AbortError') setError(e);
    } finally {
      setStreaming(false);
    }
  };

  const snippets = [
    ['curl', curlSnippet(baseUrl, request)],
    ['Python', pythonSnippet(baseUrl, request)],
    ['JavaScript', javascriptSnippet(baseUrl, request)],
  ] as const;

  return html`<section aria-labelledby="playground-title">
    <h1 id="playground-title">Playground</h1>
    <p class="lead">Chat with the models of your plan. Replies count against your limits and are billed like any request.</p>
    <form class="playground" onSubmit=${send}>
      <label>Model
        <select name="model" value=${request.model} onChange=${(e: Event) => set({ model: (e.target as HTMLSelectElement).value })}>
          ${plan.models.map((m) => html`<option value=${m.id}>${m.display_name} (${m.id})</option>`)}
        </select>
      </label>
      <label>System prompt
        <textarea name="system" rows="2" value=${request.system}
          onInput=${(e: Event) => set({ system: (e.target as HTMLTextAreaElement).value })}></textarea>
      </label>
      <label>Message
        <textarea name="message" rows="4" required value=${request.user}
          onInput=${(e: Event) => set({ user: (e.target as HTMLTextAreaElement).value })}></textarea>
      </label>
      <label>Max tokens
        <input name="max_tokens" type="number" min="1" max=${model?.max_output_tokens} value=${request.maxTokens ?? ''}
          onInput=${(e: Event) => {
            const v = (e.target as HTMLInputElement).value;
            set({ maxTokens: v === '' ? undefined : Number(v) });
          }} />
      </label>
      <div class="actions">
        <button type="submit" disabled=${streaming || !request.user.trim()}>Send</button>
        ${streaming ? html`<button type="button" class="secondary" onClick=${() => abort.current?.abort()}>Stop</button>` : null}
      </div>
    </form>
    <${ErrorNotice} error=${error} />
    <h2>Reply</h2>
    <div class="reply" data-testid="reply" aria-live="polite" aria-busy=${streaming}>${output || html`<span class="muted">The reply appears here as it streams.</span>`}</div>
    ${
      reply
        ? html`<dl class="figures" data-testid="reply-stats">
          <div><dt>Tokens</dt><dd>${reply.usage ? `${formatInteger(reply.usage.prompt_tokens)} in, ${formatInteger(reply.usage.completion_tokens)} out` : '—'}</dd></div>
          <div><dt>Cost</dt><dd>${reply.usage && model ? formatUsd(replyCostUsd(reply.usage, model.pricing)) : '—'}</dd></div>
          <div><dt>Time to first token</dt><dd>${reply.ttftMs === undefined ? '—' : formatMs(reply.ttftMs)}</dd></div>
          <div><dt>Total time</dt><dd>${formatMs(reply.totalMs)}</dd></div>
          <div><dt>Finish reason</dt><dd>${reply.finishReason ?? '—'}</dd></div>
        </dl>
        <details open>
          <summary>Rate-limit headers of this reply</summary>
          <dl class="headers">
            ${Object.entries(reply.rateLimit).map(([name, value]) => html`<div><dt><code>${name}</code></dt><dd>${value}</dd></div>`)}
          </dl>
        </details>`
        : null
    }
    <h2>Use it in code</h2>
    <p class="muted">The snippets read your key from <code>TIERLINE_API_KEY</code>: it is never copied into them.</p>
    <div class="actions">
      ${snippets.map(([language, code]) => html`<${CopyButton} text=${code} label=${`Copy as ${language}`} />`)}
    </div>
    ${snippets.map(
      ([language, code]) => html`<details>
        <summary>Show the ${language} snippet</summary>
        <pre tabindex="0"><code>${code}</code></pre>
      </details>`,
    )}
  </section>`;
}
