import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import {
  type KeyPermissions,
  type Project,
  type ProjectApiKey,
  type ProjectRateLimit,
  projects,
} from '../admin-api';
import { ApiError, type ConsoleApi } from '../api-client';
import { formatDate, formatLastUsed, formatUsd } from '../format';
import { CopyButton, ErrorNotice, Loading, TableScroll, useLoad } from '../ui';

/** The endpoint groups a restricted key names (lambda/customers/key-permissions.ts). */
const GROUPS = [
  ['models', 'Models'],
  ['chat', 'Chat and Responses'],
  ['files', 'Files and uploads'],
  ['batches', 'Batches'],
  ['fine_tuning', 'Fine-tuning'],
  ['audio', 'Audio'],
] as const;
type Level = 'none' | 'read' | 'write';
type Scope = 'all' | 'read_only' | 'restricted';

function permissionWords(permissions: KeyPermissions): string {
  if (permissions === 'all') return 'All';
  if (permissions === 'read_only') return 'Read only';
  const granted = GROUPS.filter(([group]) => (permissions[group] ?? 'none') !== 'none').map(
    ([group, label]) => `${label}: ${permissions[group]}`,
  );
  return `Restricted (${granted.join(', ') || 'nothing'})`;
}

/** A project's keys: create one (all, read-only or restricted per group; the secret shown once), list, revoke. */
export function ProjectKeys({ api, project }: { api: ConsoleApi; project: Project }) {
  const keys = useLoad(() => projects.keys(api, project.id), [api, project.id]);
  const [created, setCreated] = useState<{ name: string; key: string }>();
  const [error, setError] = useState<unknown>();
  const revoke = async (key: ProjectApiKey) => {
    if (!window.confirm(`Revoke the key "${key.name}"? Applications using it stop working.`))
      return;
    setError(undefined);
    try {
      await projects.revokeKey(api, project.id, key.id);
      keys.reload();
    } catch (e) {
      setError(e);
    }
  };
  return html`<section aria-labelledby="project-keys-title">
    <h3 id="project-keys-title">Keys of this project</h3>
    ${
      project.status === 'active'
        ? html`<${NewProjectKey} api=${api} project=${project}
            onCreated=${(made: { name: string; key: string }) => {
              setCreated(made);
              keys.reload();
            }} />`
        : null
    }
    ${
      created
        ? html`<div class="notice success secret">
            <p class="notice-title">${`Your new key "${created.name}": copy it now, it is shown only once.`}</p>
            <p><code class="secret-value" data-testid="new-project-key">${created.key}</code></p>
            <p><${CopyButton} text=${created.key} label="Copy key" />
              <button type="button" class="secondary" onClick=${() => setCreated(undefined)}>I have saved it</button></p>
          </div>`
        : null
    }
    <${ErrorNotice} error=${error ?? keys.error} />
    ${
      keys.data
        ? html`<${TableScroll} label="Key list of this project">
            <table>
              <caption>Keys of this project</caption>
              <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Permissions</th>
                <th scope="col">Created (UTC)</th><th scope="col">Last used (UTC)</th>
                <th scope="col">Created by</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
              <tbody>${keys.data.map(
                (key) => html`<tr data-key-id=${key.id}>
                  <th scope="row">${key.name}</th>
                  <td><code class="hint">${key.redacted_value}</code></td>
                  <td>${permissionWords(key.permissions)}</td>
                  <td>${formatDate(key.created_at)}</td>
                  <td>${formatLastUsed(key.last_used_at)}</td>
                  <td>${key.owner.user?.email ?? key.owner.service_account?.name ?? '—'}</td>
                  <td><button type="button" class="danger" aria-label=${`Revoke ${key.name}`}
                    onClick=${() => revoke(key)}>Revoke</button></td>
                </tr>`,
              )}</tbody>
            </table>
          <//>`
        : keys.error
          ? null
          : html`<${Loading} what="the keys" />`
    }
  </section>`;
}

function NewProjectKey(props: {
  api: ConsoleApi;
  project: Project;
  onCreated: (made: { name: string; key: string }) => void;
}) {
  const [name, setName] = useState('');
  const [scope, setScope] = useState<Scope>('all');
  const [levels, setLevels] = useState<Record<string, Level>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const permissions: KeyPermissions = scope === 'restricted' ? levels : scope;
      const made = await projects.createKey(props.api, props.project.id, name.trim(), permissions);
      props.onCreated({ name: made.name, key: made.key });
      setName('');
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const input = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement).value;
  return html`<form class="stacked-form" aria-label="New project key" onSubmit=${submit}>
    <label>Key name <input name="key-name" required maxlength="64" value=${name}
      onInput=${(e: Event) => setName(input(e))} /></label>
    <fieldset><legend>Permissions</legend>
      ${(['all', 'read_only', 'restricted'] as const).map(
        (value) => html`<label><input type="radio" name="scope" value=${value}
          checked=${scope === value} onChange=${() => setScope(value)} />
          ${value === 'all' ? 'All' : value === 'read_only' ? 'Read only' : 'Restricted'}</label>`,
      )}
    </fieldset>
    ${
      scope === 'restricted'
        ? html`<fieldset><legend>Access per group</legend>${GROUPS.map(
            ([group, label]) => html`<label>${label}
              <select name=${`level-${group}`} value=${levels[group] ?? 'none'}
                onChange=${(e: Event) => setLevels({ ...levels, [group]: input(e) as Level })}>
                <option value="none">None</option><option value="read">Read</option>
                <option value="write">Write</option></select></label>`,
          )}</fieldset>`
        : null
    }
    <button type="submit" disabled=${busy}>Create key</button>
    <${ErrorNotice} error=${error} />
  </form>`;
}

/** A project's rate limits (narrowed only: the API refuses more than the organization's) and spend limit. */
export function ProjectLimits(props: { api: ConsoleApi; project: Project; owner: boolean }) {
  const { api, project, owner } = props;
  const limits = useLoad(() => projects.rateLimits(api, project.id), [api, project.id]);
  const spend = useLoad(
    () =>
      projects.spendLimit(api, project.id).catch((e) => {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }),
    [api, project.id],
  );
  return html`<section aria-labelledby="project-limits-title">
    <h3 id="project-limits-title">Limits of this project</h3>
    <${ErrorNotice} error=${limits.error} />
    ${
      limits.data
        ? html`<${TableScroll} label="Rate limits of this project">
            <table>
              <caption>Rate limits of this project (at most the organization's)</caption>
              <thead><tr><th scope="col">Model</th><th scope="col">Requests per minute</th>
                <th scope="col">Tokens per minute</th><th scope="col">Requests per day</th>
                ${owner ? html`<th scope="col"><span class="visually-hidden">Save</span></th>` : null}</tr></thead>
              <tbody>${limits.data.map(
                (limit) =>
                  html`<${RateLimitRow} key=${limit.id} api=${api} project=${project} limit=${limit}
                    owner=${owner} onSaved=${limits.reload} />`,
              )}</tbody>
            </table>
          <//>`
        : limits.error
          ? null
          : html`<${Loading} what="the rate limits" />`
    }
    <${SpendLimitForm} api=${api} project=${project} owner=${owner}
      current=${spend.data} error=${spend.error} onSaved=${spend.reload} />
  </section>`;
}

const LIMIT_FIELDS = [
  ['max_requests_per_1_minute', 'Requests per minute'],
  ['max_tokens_per_1_minute', 'Tokens per minute'],
  ['max_requests_per_1_day', 'Requests per day'],
] as const;

function RateLimitRow(props: {
  api: ConsoleApi;
  project: Project;
  limit: ProjectRateLimit;
  owner: boolean;
  onSaved: () => void;
}) {
  const { limit } = props;
  const [values, setValues] = useState(() =>
    Object.fromEntries(LIMIT_FIELDS.map(([field]) => [field, String(limit[field])])),
  );
  const [error, setError] = useState<unknown>();
  const save = async () => {
    setError(undefined);
    try {
      const change = Object.fromEntries(LIMIT_FIELDS.map(([f]) => [f, Number(values[f])]));
      await projects.setRateLimit(props.api, props.project.id, limit.id, change);
      props.onSaved();
    } catch (e) {
      setError(e);
    }
  };
  return html`<tr data-model=${limit.model}>
    <th scope="row">${limit.model}${error ? html`<${ErrorNotice} error=${error} />` : null}</th>
    ${LIMIT_FIELDS.map(([field, label]) =>
      props.owner
        ? html`<td><input type="number" min="0" step="1" aria-label=${`${label} of ${limit.model}`}
            value=${values[field]} onInput=${(e: Event) =>
              setValues({ ...values, [field]: (e.target as HTMLInputElement).value })} /></td>`
        : html`<td>${limit[field]}</td>`,
    )}
    ${props.owner ? html`<td><button type="button" class="secondary" onClick=${save}>Save</button></td>` : null}
  </tr>`;
}

function SpendLimitForm(props: {
  api: ConsoleApi;
  project: Project;
  owner: boolean;
  current: { threshold_amount: number } | null | undefined;
  error: unknown;
  onSaved: () => void;
}) {
  const [dollars, setDollars] = useState('');
  const [error, setError] = useState<unknown>();
  const run = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      setDollars('');
      props.onSaved();
    } catch (e) {
      setError(e);
    }
  };
  const submit = (event: Event) => {
    event.preventDefault();
    run(() =>
      projects.setSpendLimit(props.api, props.project.id, Math.round(Number(dollars) * 100)),
    );
  };
  const current = props.current;
  return html`<div class="project-spend">
    <p data-testid="project-spend-limit">${
      current === undefined
        ? props.error
          ? ''
          : 'Loading the spend limit…'
        : current === null
          ? 'No spend limit of its own: the organization’s applies.'
          : `Spend limit: ${formatUsd(current.threshold_amount / 100)} a month.`
    }</p>
    <${ErrorNotice} error=${error ?? props.error} />
    ${
      props.owner
        ? html`<form class="inline-form" aria-label="Project spend limit" onSubmit=${submit}>
            <label>Monthly limit (USD) <input name="spend-limit" type="number" min="0" step="0.01" required
              value=${dollars} onInput=${(e: Event) => setDollars((e.target as HTMLInputElement).value)} /></label>
            <button type="submit">Set limit</button>
            ${current ? html`<button type="button" class="secondary" onClick=${() => run(() => projects.removeSpendLimit(props.api, props.project.id))}>Remove limit</button>` : null}
          </form>`
        : null
    }
  </div>`;
}
