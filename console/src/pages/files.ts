import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { ConsoleApi, OpenAIFile } from '../api-client';
import { formatDate } from '../format';
import { formatBytes } from '../jobs-format';
import { ErrorNotice, Loading, saveBlob, TableScroll, useLoad } from '../ui';

/**
 * The Files page: upload a JSONL file (multipart `POST /v1/files`, as the OpenAI clients send it)
 * for batches or fine-tuning, the account's files (`GET /v1/files`), download one (the key in the
 * header, saved from memory) and delete one.
 */

const PURPOSES = [
  { value: 'batch', label: 'Batch: requests to run in the background' },
  { value: 'fine-tune', label: 'Fine-tuning: training data or an adapter' },
] as const;

const PURPOSE_WORDS: Record<string, string> = {
  batch: 'Batch input',
  batch_output: 'Batch output',
  'fine-tune': 'Fine-tuning',
  'fine-tune-results': 'Fine-tuning results',
};

function UploadForm({ api, onUploaded }: { api: ConsoleApi; onUploaded: (f: OpenAIFile) => void }) {
  const [purpose, setPurpose] = useState<string>(PURPOSES[0].value);
  const [chosen, setChosen] = useState<File | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState('');

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!chosen) return;
    setBusy(true);
    setError(undefined);
    setDone('');
    try {
      const file = await api.uploadFile(chosen, chosen.name, purpose);
      setDone(`${file.filename} is uploaded as ${file.id}.`);
      onUploaded(file);
      (event.target as HTMLFormElement).reset();
      setChosen(undefined);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`<form class="stacked-form" onSubmit=${submit} aria-label="Upload a file">
      <label>File (JSONL, one JSON object a line)
        <input name="file" type="file" required accept=".jsonl,.json,.zip,.gz,application/jsonl,application/json"
          onChange=${(e: Event) => setChosen((e.target as HTMLInputElement).files?.[0])} />
      </label>
      <label>Use
        <select name="purpose" value=${purpose} onChange=${(e: Event) => setPurpose((e.target as HTMLSelectElement).value)}>
          ${PURPOSES.map((p) => html`<option value=${p.value}>${p.label}</option>`)}
        </select>
      </label>
      <div class="actions">
        <button type="submit" disabled=${busy || !chosen}>${busy ? 'Uploading…' : 'Upload'}</button>
      </div>
    </form>
    <p role="status" class="saved">${done}</p>
    <${ErrorNotice} error=${error} />`;
}

function FileRow({
  file,
  onDownload,
  onDelete,
}: {
  file: OpenAIFile;
  onDownload: (file: OpenAIFile) => void;
  onDelete: (file: OpenAIFile) => void;
}) {
  return html`<tr data-file-id=${file.id}>
    <td>${file.filename}<br /><code>${file.id}</code></td>
    <td>${PURPOSE_WORDS[file.purpose] ?? file.purpose}</td>
    <td>${formatBytes(file.bytes)}</td>
    <td>${formatDate(file.created_at)}</td>
    <td class="actions">
      <button type="button" class="secondary" aria-label=${`Download ${file.filename}`} onClick=${() => onDownload(file)}>Download</button>
      <button type="button" class="danger" aria-label=${`Delete ${file.filename}`} onClick=${() => onDelete(file)}>Delete</button>
    </td>
  </tr>`;
}

export function FilesPage({ api }: { api: ConsoleApi }) {
  const loaded = useLoad(() => api.files(), [api]);
  // Pages after the first, read with `after` (the last id shown) on "Show older files".
  const [older, setOlder] = useState<{ files: OpenAIFile[]; hasMore: boolean } | undefined>();
  const [busy, setBusy] = useState(false);
  // Uploaded and deleted in this visit, merged over what was loaded, so the list answers at once.
  const [added, setAdded] = useState<OpenAIFile[]>([]);
  const [deleted, setDeleted] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>();
  const known = new Set(added.map((f) => f.id));
  const listed = [...(loaded.data?.data ?? []), ...(older?.files ?? [])];
  const files = [...added, ...listed.filter((f) => !known.has(f.id))].filter(
    (f) => !deleted.has(f.id),
  );
  const hasMore = older ? older.hasMore : (loaded.data?.has_more ?? false);

  const showOlder = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const page = await api.files(undefined, 100, listed.at(-1)?.id);
      setOlder({ files: [...(older?.files ?? []), ...page.data], hasMore: page.has_more });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const download = async (file: OpenAIFile) => {
    setError(undefined);
    try {
      saveBlob(await api.fileContent(file.id), file.filename);
    } catch (e) {
      setError(e);
    }
  };
  const remove = async (file: OpenAIFile) => {
    if (
      !window.confirm(`Delete ${file.filename}? Batches and jobs that used it keep their results.`)
    )
      return;
    setError(undefined);
    try {
      await api.deleteFile(file.id);
      setDeleted((d) => new Set([...d, file.id]));
    } catch (e) {
      setError(e);
    }
  };

  return html`<section aria-labelledby="files-title">
    <h1 id="files-title">Files</h1>
    <p class="lead">Files for batches and fine-tuning. Upload a batch's requests here, then create the batch on the <a href="#/batches">Batches page</a>.</p>
    <h2>Upload a file</h2>
    <${UploadForm} api=${api} onUploaded=${(f: OpenAIFile) => setAdded((a) => [f, ...a.filter((x) => x.id !== f.id)])} />
    <h2>Your files</h2>
    <${ErrorNotice} error=${loaded.error ?? error} />
    ${
      loaded.loading && !loaded.data
        ? html`<${Loading} what="your files" />`
        : !loaded.data
          ? null
          : html`<${TableScroll} label="Your files">
          <table>
            <caption>Your files, newest first</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Use</th><th scope="col">Size</th>
              <th scope="col">Uploaded (UTC)</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              ${files.map((f) => html`<${FileRow} key=${f.id} file=${f} onDownload=${download} onDelete=${remove} />`)}
              ${files.length === 0 ? html`<tr><td colspan="5">No files yet.</td></tr>` : null}
            </tbody>
          </table>
        <//>
        ${hasMore ? html`<p><button type="button" class="secondary" disabled=${busy} onClick=${showOlder}>Show older files</button></p>` : null}`
    }
  </section>`;
}
