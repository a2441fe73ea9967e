import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { ConsoleApi, FineTuningEvent, FineTuningJob, Plan } from '../api-client';
import { formatDate } from '../format';
import {
  fineTunedBase,
  fineTunedModels,
  formatEstimatedCost,
  formatTrainedTokens,
  isJobActive,
  isRouteMissing,
  jobErrorText,
  jobStatusWords,
} from '../jobs-format';
import { ErrorNotice, Loading, NotOnPlan, useLoad } from '../ui';

/**
 * The Fine-tuning page: the account's jobs (`GET /v1/fine_tuning/jobs`, OpenAI's `fine_tuning.job`
 * plus Tierline's `estimated_cost_usd`), a job's events, and the fine-tuned models (`/v1/models`
 * ids starting with `ft:`). A deployment without the fine-tuning API answers 404 `unknown_url`: the
 * page says so instead of showing an error.
 */

const PAGE_SIZE = 20;
/** Training runs for minutes to hours: a slow poll is enough. */
const POLL_MS = 5_000;

function Events({ api, jobId }: { api: ConsoleApi; jobId: string }) {
  const events = useLoad(() => api.fineTuningEvents(jobId), [api, jobId]);
  if (events.loading && !events.data) return html`<${Loading} what="the events" />`;
  if (events.error || !events.data) return html`<${ErrorNotice} error=${events.error} />`;
  if (events.data.data.length === 0) return html`<p class="muted">No events yet.</p>`;
  return html`<ol class="events" aria-label=${`Events of ${jobId}`}>
    ${events.data.data.map(
      (e: FineTuningEvent) => html`<li class=${`level-${e.level}`}>
        <span class="muted">${formatDate(e.created_at)}</span> ${e.level === 'info' ? '' : `${e.level}: `}${e.message}
      </li>`,
    )}
  </ol>`;
}

function JobCard({ api, job }: { api: ConsoleApi; job: FineTuningJob }) {
  const [open, setOpen] = useState(false);
  const error = jobErrorText(job);
  return html`<li data-job-id=${job.id}>
    <h3><code>${job.id}</code> <span class=${`status ${job.status}`}>${jobStatusWords(job.status)}</span></h3>
    <dl>
      <div><dt>Base model</dt><dd><code>${job.model}</code></dd></div>
      <div><dt>Fine-tuned model</dt><dd>${job.fine_tuned_model ? html`<code>${job.fine_tuned_model}</code>` : '—'}</dd></div>
      <div><dt>Trained tokens</dt><dd>${formatTrainedTokens(job.trained_tokens)}</dd></div>
      <div><dt>Estimated cost</dt><dd>${formatEstimatedCost(job.estimated_cost_usd)}</dd></div>
      <div><dt>Created (UTC)</dt><dd>${formatDate(job.created_at)}</dd></div>
      <div><dt>Finished (UTC)</dt><dd>${formatDate(job.finished_at)}</dd></div>
    </dl>
    ${error ? html`<p class="notice error">${error}</p>` : null}
    <p class="actions"><button type="button" class="secondary" aria-expanded=${open}
      onClick=${() => setOpen(!open)}>${open ? 'Hide events' : 'Show events'}</button></p>
    ${open ? html`<${Events} api=${api} jobId=${job.id} />` : null}
  </li>`;
}

function Jobs({ api }: { api: ConsoleApi }) {
  const [jobs, setJobs] = useState<FineTuningJob[] | undefined>();
  const [hasMore, setHasMore] = useState(false);
  const [error, setError] = useState<unknown>();

  const load = async (after?: string) => {
    const page = await api.fineTuningJobs(after, PAGE_SIZE);
    setJobs((shown) => {
      if (after) return [...(shown ?? []), ...page.data];
      const fresh = new Set(page.data.map((j) => j.id));
      return [...page.data, ...(shown ?? []).filter((j) => !fresh.has(j.id))];
    });
    if (after || jobs === undefined) setHasMore(page.has_more);
  };
  useEffect(() => {
    load().catch(setError);
  }, [api]);
  useEffect(() => {
    if (!jobs?.some((j) => isJobActive(j.status))) return;
    const timer = setTimeout(() => load().catch(setError), POLL_MS);
    return () => clearTimeout(timer);
  }, [jobs]);

  if (isRouteMissing(error)) {
    return html`<p class="notice info" data-testid="fine-tuning-not-deployed">
      Fine-tuning is part of your plan, but this deployment does not offer its API yet. Ask your operator when it
      will be available.</p>`;
  }
  if (error && !jobs) return html`<${ErrorNotice} error=${error} />`;
  if (!jobs) return html`<${Loading} what="your fine-tuning jobs" />`;
  return html`${error ? html`<${ErrorNotice} error=${error} />` : null}
    ${
      jobs.length === 0
        ? html`<p class="notice info" data-testid="no-jobs">No fine-tuning jobs yet. Upload a JSONL file with
            purpose <code>fine-tune</code> and create a job with the API: it appears here.</p>`
        : html`<ul class="cards" aria-label="Your fine-tuning jobs">
            ${jobs.map((j) => html`<${JobCard} key=${j.id} api=${api} job=${j} />`)}
          </ul>`
    }
    ${hasMore ? html`<p><button type="button" class="secondary" onClick=${() => load(jobs.at(-1)?.id).catch(setError)}>Show older jobs</button></p>` : null}`;
}

function Models({ api }: { api: ConsoleApi }) {
  const models = useLoad(() => api.models(), [api]);
  if (models.loading && !models.data) return html`<${Loading} what="your models" />`;
  if (models.error || !models.data) return html`<${ErrorNotice} error=${models.error} />`;
  const tuned = fineTunedModels(models.data);
  if (tuned.length === 0) {
    return html`<p class="muted" data-testid="no-fine-tuned-models">No fine-tuned models yet: a job that succeeds adds
      one here, usable as <code>model</code> in chat completions.</p>`;
  }
  return html`<ul class="cards" aria-label="Your fine-tuned models">
    ${tuned.map(
      (m) => html`<li><h3><code>${m.id}</code></h3>
        <dl>
          <div><dt>Base model</dt><dd><code>${fineTunedBase(m.id) ?? '—'}</code></dd></div>
          <div><dt>Created (UTC)</dt><dd>${formatDate(m.created)}</dd></div>
        </dl></li>`,
    )}
  </ul>`;
}

export function FineTuningPage({ api, plan }: { api: ConsoleApi; plan: Plan }) {
  const lora = plan.features.lora_fine_tuning;
  return html`<section aria-labelledby="fine-tuning-title">
    <h1 id="fine-tuning-title">Fine-tuning</h1>
    ${
      lora.available
        ? html`<p class="lead">${`LoRA fine-tunes of the plan's models, served on the base model's GPUs${lora.premium_percent > 0 ? ` at +${lora.premium_percent}% per token` : ''}.`}</p>
          <h2>Jobs</h2>
          <${Jobs} api=${api} />
          <h2>Fine-tuned models</h2>
          <${Models} api=${api} />`
        : html`<${NotOnPlan} api=${api} feature="Fine-tuning" has=${(p: Plan) => p.features.lora_fine_tuning.available} />`
    }
  </section>`;
}
