import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { Batch, ConsoleApi, Plan } from '../api-client';
import { formatDate } from '../format';
import {
  batchEndedAt,
  batchFileName,
  batchOutcome,
  batchOutcomeWords,
  batchProgress,
  isBatchActive,
  isBatchCancellable,
} from '../jobs-format';
import { ErrorNotice, Loading, NotOnPlan, saveBlob } from '../ui';
import { CreateBatchForm } from './create-batch';

/**
 * The Batches page: the account's batches (`GET /v1/batches`, a page at a time with `after`), their
 * status and request counts (polled while a batch runs), the output and error files (fetched with
 * the key in the header, saved from memory), and cancel for a batch that can still be cancelled.
 */

const PAGE_SIZE = 20;
/** How often a running batch is read again: the worker finishes lines in seconds. */
const POLL_MS = 2_000;

function BatchCard({
  batch,
  onCancel,
  onDownload,
}: {
  batch: Batch;
  onCancel: (batch: Batch) => void;
  onDownload: (fileId: string, name: string) => void;
}) {
  const counts = batch.request_counts;
  const ended = batchEndedAt(batch);
  const done =
    counts.total > 0 ? Math.floor(((counts.completed + counts.failed) / counts.total) * 100) : 0;
  const errors = batch.errors?.data ?? [];
  return html`<li data-batch-id=${batch.id}>
    <h3><code>${batch.id}</code> <span class=${`outcome outcome-${batchOutcome(batch)}`} data-testid="batch-status" data-outcome=${batchOutcome(batch)}>${batchOutcomeWords(batch)}</span></h3>
    <dl>
      <div><dt>Requests</dt><dd data-testid="batch-counts">${batchProgress(counts)}
        <progress max="100" value=${done} aria-label=${`${batch.id}: ${done}% of its requests finished`}></progress></dd></div>
      <div><dt>Endpoint</dt><dd><code>${batch.endpoint}</code></dd></div>
      <div><dt>Created (UTC)</dt><dd>${formatDate(batch.created_at)}</dd></div>
      <div>${
        ended
          ? html`<dt>Ended (UTC)</dt><dd>${formatDate(ended)}</dd>`
          : html`<dt>Expires (UTC)</dt><dd>${formatDate(batch.expires_at)}</dd>`
      }</div>
    </dl>
    ${
      errors.length > 0
        ? html`<ul class="batch-errors">${errors
            .slice(0, 5)
            .map(
              (e) => html`<li>${e.line ? `Line ${e.line}: ` : ''}${e.message ?? e.code}</li>`,
            )}</ul>`
        : null
    }
    <p class="actions">
      ${
        batch.output_file_id
          ? html`<button type="button" class="secondary" aria-label=${`Download the output of ${batch.id}`}
              onClick=${() => onDownload(batch.output_file_id as string, batchFileName(batch.id, 'output'))}>Download output</button>`
          : null
      }
      ${
        batch.error_file_id
          ? html`<button type="button" class="secondary" aria-label=${`Download the errors of ${batch.id}`}
              onClick=${() => onDownload(batch.error_file_id as string, batchFileName(batch.id, 'error'))}>Download errors</button>`
          : null
      }
      ${
        isBatchCancellable(batch.status)
          ? html`<button type="button" class="danger" aria-label=${`Cancel ${batch.id}`} onClick=${() => onCancel(batch)}>Cancel</button>`
          : null
      }
    </p>
  </li>`;
}

function BatchList({ api, plan }: { api: ConsoleApi; plan: Plan }) {
  const [batches, setBatches] = useState<Batch[] | undefined>();
  const [hasMore, setHasMore] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  // The first page, merged into what is shown: a newer batch appears on top, a known one is
  // replaced.
  const refresh = async (): Promise<Set<string>> => {
    const page = await api.batches(undefined, PAGE_SIZE);
    setBatches((shown) => {
      const fresh = new Map(page.data.map((b) => [b.id, b]));
      const older = (shown ?? []).filter((b) => !fresh.has(b.id));
      return [...page.data, ...older];
    });
    if (batches === undefined) setHasMore(page.has_more);
    return new Set(page.data.map((b) => b.id));
  };

  useEffect(() => {
    refresh().catch(setError);
  }, [api]);

  // While a batch shown runs, read it again; a batch beyond the first page is read by its id.
  const active = (batches ?? []).filter((b) => isBatchActive(b.status));
  useEffect(() => {
    if (active.length === 0) return;
    const timer = setTimeout(async () => {
      try {
        const firstIds = await refresh();
        const beyond = active.filter((b) => !firstIds.has(b.id));
        const again = await Promise.all(beyond.map((b) => api.batch(b.id)));
        if (again.length > 0) {
          const byId = new Map(again.map((b) => [b.id, b]));
          setBatches((shown) => shown?.map((b) => byId.get(b.id) ?? b));
        }
      } catch (e) {
        setError(e);
      }
    }, POLL_MS);
    return () => clearTimeout(timer);
  }, [batches]);

  const more = async () => {
    setBusy(true);
    try {
      const page = await api.batches(batches?.at(-1)?.id, PAGE_SIZE);
      setBatches((shown) => [
        ...(shown ?? []),
        ...page.data.filter((b) => !shown?.some((s) => s.id === b.id)),
      ]);
      setHasMore(page.has_more);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const cancel = async (batch: Batch) => {
    if (
      !window.confirm(
        `Cancel ${batch.id}? Requests already finished stay in its output; the rest are not run.`,
      )
    ) {
      return;
    }
    setError(undefined);
    try {
      const cancelled = await api.cancelBatch(batch.id);
      setBatches((shown) => shown?.map((b) => (b.id === cancelled.id ? cancelled : b)));
    } catch (e) {
      setError(e);
    }
  };

  const download = async (fileId: string, name: string) => {
    setError(undefined);
    try {
      saveBlob(await api.fileContent(fileId), name);
    } catch (e) {
      setError(e);
    }
  };

  const created = (batch: Batch) =>
    setBatches((shown) => [batch, ...(shown ?? []).filter((b) => b.id !== batch.id)]);

  return html`<${CreateBatchForm} api=${api} plan=${plan} onCreated=${created} />
    <h2>Your batches</h2>
    <${ErrorNotice} error=${error} />
    <p><button type="button" class="secondary" onClick=${() => refresh().catch(setError)}>Refresh</button></p>
    ${
      batches === undefined
        ? error
          ? null
          : html`<${Loading} what="your batches" />`
        : batches.length === 0
          ? html`<p class="notice info" data-testid="no-batches">No batches yet. Upload a JSONL file on the
              <a href="#/files">Files page</a> and create a batch above, or with the API: it appears here.</p>`
          : html`<ul class="cards" aria-label="Your batches">
              ${batches.map((b) => html`<${BatchCard} key=${b.id} batch=${b} onCancel=${cancel} onDownload=${download} />`)}
            </ul>
            ${hasMore ? html`<p><button type="button" class="secondary" disabled=${busy} onClick=${more}>Show older batches</button></p>` : null}`
    }`;
}

export function BatchesPage({ api, plan }: { api: ConsoleApi; plan: Plan }) {
  const batch = plan.features.batch;
  return html`<section aria-labelledby="batches-title">
    <h1 id="batches-title">Batches</h1>
    ${
      batch.available
        ? html`<p class="lead">${`Requests run in the background at ${batch.discount_percent}% off, apart from your online limits. Counts update while a batch runs.`}</p>
          <${BatchList} api=${api} plan=${plan} />`
        : html`<${NotOnPlan} api=${api} feature="The Batch API" has=${(p: Plan) => p.features.batch.available} />`
    }
  </section>`;
}
