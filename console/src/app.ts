import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, ConsoleApi, type Me } from './api-client';
import { BatchesPage } from './pages/batches';
import { BillingPage } from './pages/billing';
import { FilesPage } from './pages/files';
import { FineTuningPage } from './pages/fine-tuning';
import { KeysPage } from './pages/keys';
import { PlanPage } from './pages/plan';
import { PlaygroundPage } from './pages/playground';
import { SpendPage } from './pages/spend';
import { UsagePage } from './pages/usage';
import { forgetKey, savedKey, saveKey } from './session';
import { ErrorNotice } from './ui';

/** The console's shell: sign in, navigation (hash routes, so any static host serves it), sign out. */

const PAGES = [
  { path: 'plan', label: 'Plan' },
  { path: 'usage', label: 'Usage' },
  { path: 'keys', label: 'Keys' },
  { path: 'spend', label: 'Spend limit' },
  { path: 'billing', label: 'Billing' },
  { path: 'files', label: 'Files' },
  { path: 'batches', label: 'Batches' },
  { path: 'fine-tuning', label: 'Fine-tuning' },
  { path: 'playground', label: 'Playground' },
] as const;
type PagePath = (typeof PAGES)[number]['path'];

const API_BASE = '/v1';

function currentPath(): PagePath {
  const path = location.hash.replace(/^#\/?/, '');
  return (PAGES.find((p) => p.path === path)?.path ?? 'plan') as PagePath;
}

function SignIn({ onSignedIn }: { onSignedIn: (key: string, me: Me) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const trimmed = key.trim();
      onSignedIn(trimmed, await new ConsoleApi(trimmed, API_BASE).me());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<main id="main" class="sign-in">
    <h1>Sign in to the Tierline console</h1>
    <p class="lead">Use an API key of your account. It stays in this browser tab only and is forgotten when you close it.</p>
    <form onSubmit=${submit}>
      <label>API key
        <input name="api-key" type="password" autocomplete="off" spellcheck="false" required placeholder="tl_…"
          value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
    <${ErrorNotice} error=${error} />
    <p class="muted">No key yet? Your operator creates accounts and keys. In local mode, <code>npm start</code> prints demo keys.</p>
  </main>`;
}

export function App() {
  const [session, setSession] = useState<{ key: string; me?: Me } | undefined>(() => {
    const key = savedKey();
    return key ? { key } : undefined;
  });
  const [path, setPath] = useState<PagePath>(currentPath);
  const [error, setError] = useState<unknown>();
  const heading = useRef<HTMLElement>(null);
  const api = useMemo(
    () => (session ? new ConsoleApi(session.key, API_BASE) : undefined),
    [session?.key],
  );

  useEffect(() => {
    const onHash = () => {
      setPath(currentPath());
      // Move focus to the new page's content, as a full page load would.
      setTimeout(() => heading.current?.focus(), 0);
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  // A key kept from earlier in this tab: check it again and read the account. Only a refused key
  // is forgotten; a rate limit or an unreachable API keeps it and asks again shortly.
  const [meAttempt, setMeAttempt] = useState(0);
  useEffect(() => {
    if (!api || session?.me) return;
    let retry: ReturnType<typeof setTimeout> | undefined;
    api.me().then(
      (me) => {
        setError(undefined);
        setSession((s) => (s ? { ...s, me } : s));
      },
      (e) => {
        setError(e);
        if (!(e instanceof ApiError && e.status === 401)) {
          retry = setTimeout(() => setMeAttempt((n) => n + 1), 2_000);
          return;
        }
        forgetKey();
        setSession(undefined);
      },
    );
    return () => clearTimeout(retry);
  }, [api, session?.me, meAttempt]);

  useEffect(() => {
    const title = PAGES.find((p) => p.path === path)?.label ?? 'Plan';
    document.title = session ? `${title} · Tierline console` : 'Sign in · Tierline console';
  }, [path, session]);

  if (!session || !api) {
    return html`<${SignIn}
        onSignedIn=${(key: string, me: Me) => {
          saveKey(key);
          setError(undefined);
          setSession({ key, me });
          location.hash = '#/plan';
          setPath('plan');
        }}
      />
      ${error ? html`<div class="sign-in"><${ErrorNotice} error=${error} /></div>` : null}`;
  }
  const signOut = () => {
    forgetKey();
    setSession(undefined);
    location.hash = '';
  };
  const me = session.me;
  const spendAvailable = me?.plan.features.spend_limit.available ?? false;
  return html`<a class="skip-link" href="#main" onClick=${(e: Event) => {
    e.preventDefault();
    heading.current?.focus();
  }}>Skip to content</a>
    <header class="top">
      <p class="brand">Tierline <span>console</span></p>
      ${me ? html`<p class="account"><span class="tier-badge">${me.plan.display_name}</span> ${me.name}</p>` : null}
      <nav aria-label="Console">
        <ul>
          ${PAGES.filter((p) => p.path !== 'spend' || spendAvailable || path === 'spend').map(
            (p) =>
              html`<li><a href=${`#/${p.path}`} aria-current=${p.path === path ? 'page' : undefined}>${p.label}</a></li>`,
          )}
        </ul>
      </nav>
      <button type="button" class="secondary sign-out" onClick=${signOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1" ref=${heading}>
      ${
        !me
          ? error
            ? html`<${ErrorNotice} error=${error} /><p role="status">Trying again shortly…</p>`
            : html`<p role="status">Loading your account…</p>`
          : path === 'plan'
            ? html`<${PlanPage} api=${api} tier=${me.tier} />`
            : path === 'usage'
              ? html`<${UsagePage} api=${api} />`
              : path === 'keys'
                ? html`<${KeysPage} api=${api} />`
                : path === 'spend'
                  ? html`<${SpendPage} api=${api} />`
                  : path === 'billing'
                    ? html`<${BillingPage} api=${api} />`
                    : path === 'files'
                      ? html`<${FilesPage} api=${api} />`
                      : path === 'batches'
                        ? html`<${BatchesPage} api=${api} plan=${me.plan} />`
                        : path === 'fine-tuning'
                          ? html`<${FineTuningPage} api=${api} plan=${me.plan} />`
                          : html`<${PlaygroundPage} api=${api} plan=${me.plan} baseUrl=${`${location.origin}${API_BASE}`} />`
      }
    </main>`;
}
