import { html } from 'htm/preact';
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type ConsoleApi, type Plan } from './api-client';
import { tiersWith } from './jobs-format';

/** Small shared pieces of the console's pages. */

export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  const e =
    error instanceof ApiError
      ? error
      : new ApiError(
          0,
          String((error as Error)?.message ?? error),
          'Something went wrong',
          'Reload the page.',
        );
  return html`<div class="notice error" role="alert">
    <p class="notice-title">${e.title}</p>
    <p>${e.sentence ?? e.message}</p>
    <p class="advice">${e.advice}</p>
  </div>`;
}

/** Runs `load` on mount and when `deps` change; gives its result, its error, and a reload. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Loading({ what }: { what: string }) {
  return html`<p class="muted" role="status">Loading ${what}…</p>`;
}

/** A table that scrolls sideways on a phone; focusable so a keyboard can scroll it too. */
export function TableScroll({ label, children }: { label: string; children: ComponentChildren }) {
  return html`<div class="table-scroll" role="region" aria-label=${label} tabindex="0">${children}</div>`;
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      setCopied(false);
    }
  };
  return html`<button type="button" class="secondary" onClick=${copy}>${copied ? 'Copied' : label}</button>
    <span class="visually-hidden" aria-live="polite">${copied ? `${label}: copied to the clipboard` : ''}</span>`;
}

/**
 * What a plan without a feature sees instead of an error: which tiers have it (from `/v1/plans`)
 * and the operator's "how to upgrade" text.
 */
export function NotOnPlan({
  api,
  feature,
  has,
}: {
  api: ConsoleApi;
  /** `The Batch API`, `Fine-tuning`. */
  feature: string;
  has: (plan: Plan) => boolean;
}) {
  const plans = useLoad(() => api.plans(), [api]);
  if (plans.loading && !plans.data) return html`<${Loading} what="the plans" />`;
  if (plans.error || !plans.data) return html`<${ErrorNotice} error=${plans.error} />`;
  const tiers = tiersWith(plans.data.data, has);
  return html`<div class="notice info" data-testid="not-on-plan">
    <p class="notice-title">${`${feature} is not part of your plan.`}</p>
    <p>${tiers ? `${feature} comes with the ${tiers} ${tiers.includes(' and ') ? 'plans' : 'plan'}.` : ''}</p>
    ${plans.data.upgrade ? html`<p>${plans.data.upgrade.text}</p>` : null}
    ${plans.data.upgrade?.url ? html`<p><a class="button" href=${plans.data.upgrade.url} rel="noopener">Upgrade</a></p>` : null}
    <p><a href="#/plan">Compare the plans</a></p>
  </div>`;
}

/** Saves a Blob as a file: the browser's download, from memory (no URL that could carry the key). */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement('a'), { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken the data by the next turn of the event loop; a little later is safe
  // everywhere.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
