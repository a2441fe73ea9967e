import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { Batch, ConsoleApi, Plan } from '../api-client';
import { formatDate } from '../format';
import { ErrorNotice, useLoad } from '../ui';

/** The endpoints a batch's lines may call (the API's `BATCH_ENDPOINTS`). */
const ENDPOINTS = ['/v1/chat/completions', '/v1/responses'] as const;

/**
 * Creates a batch from a file already uploaded for batches: the file, the endpoint its lines call,
 * and a completion window the plan offers. The button is disabled while the request runs, so a
 * double click creates one batch, not two.
 */
export function CreateBatchForm({
  api,
  plan,
  onCreated,
}: {
  api: ConsoleApi;
  plan: Plan;
  onCreated: (batch: Batch) => void;
}) {
  const files = useLoad(() => api.files('batch'), [api]);
  const windows = plan.features.batch.completion_windows;
  const [fileId, setFileId] = useState('');
  const [endpoint, setEndpoint] = useState<string>(ENDPOINTS[0]);
  const [completionWindow, setCompletionWindow] = useState(windows[0] ?? '24h');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState('');
  const choices = files.data?.data ?? [];
  const chosen = fileId || choices[0]?.id || '';

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone('');
    try {
      const batch = await api.createBatch({
        input_file_id: chosen,
        endpoint,
        completion_window: completionWindow,
      });
      setDone(`Batch ${batch.id} is created: it is listed below.`);
      onCreated(batch);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`<h2>Create a batch</h2>
    ${
      files.data && choices.length === 0
        ? html`<p class="notice info" data-testid="no-batch-files">No file uploaded for batches yet: upload a JSONL file on the <a href="#/files">Files page</a>, one request a line.</p>`
        : null
    }
    <${ErrorNotice} error=${files.error} />
    <form class="stacked-form" onSubmit=${submit} aria-label="Create a batch">
      <label>Input file
        <select name="input_file_id" required value=${chosen}
          onChange=${(e: Event) => setFileId((e.target as HTMLSelectElement).value)}>
          ${choices.map(
            (f) =>
              html`<option value=${f.id}>${`${f.filename} (${f.id}, uploaded ${formatDate(f.created_at)})`}</option>`,
          )}
        </select>
      </label>
      <label>Endpoint the lines call
        <select name="endpoint" value=${endpoint}
          onChange=${(e: Event) => setEndpoint((e.target as HTMLSelectElement).value)}>
          ${ENDPOINTS.map((e) => html`<option value=${e}>${e === '/v1/responses' ? 'Responses' : 'Chat completions'}</option>`)}
        </select>
      </label>
      <label>Completion window
        <select name="completion_window" value=${completionWindow}
          onChange=${(e: Event) => setCompletionWindow((e.target as HTMLSelectElement).value)}>
          ${windows.map((w) => html`<option value=${w}>${w}</option>`)}
        </select>
      </label>
      <div class="actions">
        <button type="submit" disabled=${busy || !chosen}>${busy ? 'Creating…' : 'Create batch'}</button>
      </div>
    </form>
    <p role="status" class="saved">${done}</p>
    <${ErrorNotice} error=${error} />`;
}
