import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import type { ApiKey, ConsoleApi } from '../api-client';
import { formatDate, formatLastUsed } from '../format';
import { CopyButton, ErrorNotice, Loading, TableScroll, useLoad } from '../ui';

/**
 * The Keys page: named keys of the account; create (the secret shown once), list, revoke. A
 * member (`canManage` false) reads the list only: the API would refuse the buttons (403).
 */
export function KeysPage({ api, canManage = true }: { api: ConsoleApi; canManage?: boolean }) {
  const keys = useLoad(() => api.keys(), [api]);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<(ApiKey & { key: string }) | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const secretHeading = useRef<HTMLHeadingElement>(null);

  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const key = await api.createKey(name);
      setCreated(key);
      setName('');
      keys.reload();
      // Move focus to the one-time secret so a screen reader announces it.
      setTimeout(() => secretHeading.current?.focus(), 0);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (key: ApiKey) => {
    if (
      !window.confirm(
        `Revoke the key "${key.name}" (${key.hint})? Applications using it stop working.`,
      )
    )
      return;
    setError(undefined);
    try {
      await api.revokeKey(key.id);
      if (created?.id === key.id) setCreated(undefined);
      keys.reload();
    } catch (e) {
      setError(e);
    }
  };

  return html`<section aria-labelledby="keys-title">
    <h1 id="keys-title">API keys</h1>
    <p class="lead">Every key of your account shares its limits, usage and spend limit. Keys stop working within a minute of being revoked. "Last used" is kept to the hour.</p>
    ${
      canManage
        ? html`<form class="inline-form" onSubmit=${create}>
          <label>Key name <input name="name" required maxlength="64" value=${name} placeholder="e.g. production server"
            onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
          <button type="submit" disabled=${busy}>Create key</button>
        </form>`
        : html`<p class="muted" data-testid="keys-read-only">Only an owner of this organization creates and revokes keys.</p>`
    }
    <${ErrorNotice} error=${error} />
    ${
      created
        ? html`<div class="notice success secret">
          <h2 tabindex="-1" ref=${secretHeading}>Your new key "${created.name}"</h2>
          <p>Copy it now: it is shown only once and cannot be shown again.</p>
          <p><code class="secret-value" data-testid="new-key">${created.key}</code></p>
          <p><${CopyButton} text=${created.key} label="Copy key" />
            <button type="button" class="secondary" onClick=${() => setCreated(undefined)}>I have saved it</button></p>
        </div>`
        : null
    }
    ${keys.error ? html`<${ErrorNotice} error=${keys.error} />` : null}
    ${
      keys.data
        ? html`<${TableScroll} label="Your API keys">
          <table>
            <caption>Your API keys</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Status</th>
              <th scope="col">Created (UTC)</th><th scope="col">Last used (UTC)</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              ${keys.data.map(
                (key) => html`<tr data-key-id=${key.id}>
                  <th scope="row">${key.name}</th>
                  <td><code class="hint">${key.hint}</code></td>
                  <td><span class=${`status ${key.status}`}>${key.status}</span></td>
                  <td>${formatDate(key.created_at)}</td>
                  <td data-testid="last-used">${formatLastUsed(key.last_used_at)}</td>
                  <td>
                    ${
                      key.primary
                        ? html`<span class="muted">Rotated by your operator</span>`
                        : key.status === 'active' && canManage
                          ? html`<button type="button" class="danger" onClick=${() => revoke(key)}
                            aria-label=${`Revoke ${key.name}`}>Revoke</button>`
                          : key.status === 'active'
                            ? null
                            : html`<span class="muted">Revoked ${formatDate(key.revoked_at)}</span>`
                    }
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>
        <//>`
        : keys.error
          ? null
          : html`<${Loading} what="your keys" />`
    }
  </section>`;
}
