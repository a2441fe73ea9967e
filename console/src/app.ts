import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { invites } from './admin-api';
import {
  ApiError,
  ConsoleApi,
  type Me,
  type OrganizationMembership,
  type SignedUpOrganization,
} from './api-client';
import { CognitoClient, type CognitoSettings, type SessionTokens } from './cognito';
import { loadRuntimeConfig, sessionCredentials } from './console-session';
import { forgetInviteToken, keepInviteToken, pendingInviteToken } from './invite-link';
import { AccountAccess, accessRoute } from './pages/account-access';
import { AuditLogPage } from './pages/audit-log';
import { BatchesPage } from './pages/batches';
import { BillingPage } from './pages/billing';
import { FilesPage } from './pages/files';
import { FineTuningPage } from './pages/fine-tuning';
import { KeysPage } from './pages/keys';
import { MembersPage } from './pages/members';
import { PlanPage } from './pages/plan';
import { PlaygroundPage } from './pages/playground';
import { ProjectsPage } from './pages/projects';
import { SpendPage } from './pages/spend';
import { UsagePage } from './pages/usage';
import {
  forgetKey,
  type SavedSession,
  savedKey,
  savedSession,
  saveKey,
  saveSession,
} from './session';
import { CopyButton, ErrorNotice } from './ui';

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
  { path: 'projects', label: 'Projects' },
  { path: 'members', label: 'Members' },
  { path: 'audit', label: 'Audit log' },
] as const;
type PagePath = (typeof PAGES)[number]['path'];

/** Pages of the administration API: a session's only (an API key cannot open them). */
const SESSION_PAGES: readonly PagePath[] = ['projects', 'members', 'audit'];

/** Whether the navigation shows a page to this signed-in user (`role` undefined: an API key). */
function pageShown(path: PagePath, current: PagePath, spend: boolean, role?: string): boolean {
  if (path === current) return true;
  if (path === 'spend') return spend;
  if (!SESSION_PAGES.includes(path)) return true;
  return path === 'audit' ? role === 'owner' : role !== undefined;
}

const API_BASE = '/v1';

function currentPath(): PagePath {
  const path = location.hash.replace(/^#\/?/, '');
  return (PAGES.find((p) => p.path === path)?.path ?? 'plan') as PagePath;
}

function KeySignIn({ onSignedIn }: { onSignedIn: (key: string, me: Me) => void }) {
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
  return html`<section class="sign-in key-sign-in">
    <h2>Sign in with an API key</h2>
    <p class="lead">Use an API key of your account. It stays in this browser tab only and is forgotten when you close it.</p>
    <form onSubmit=${submit}>
      <label>API key
        <input name="api-key" type="password" autocomplete="off" spellcheck="false" required placeholder="tl_…"
          value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
    <${ErrorNotice} error=${error} />
    <p class="muted">In local mode, <code>npm start</code> prints demo keys.</p>
  </section>`;
}

type Auth = { kind: 'key'; key: string } | { kind: 'session'; session: SavedSession };

function savedAuth(): Auth | undefined {
  const session = savedSession();
  if (session) return { kind: 'session', session };
  const key = savedKey();
  return key ? { kind: 'key', key } : undefined;
}

/** The console shell: its user pool from the runtime config, then sign-in or the signed-in pages. */
export function App() {
  const [cognito, setCognito] = useState<CognitoClient | null>();
  const [auth, setAuth] = useState<Auth | undefined>(savedAuth);
  const [hash, setHash] = useState(location.hash);
  // Counts invitation links opened, so a signed-in user's console accepts each one.
  const [invitesOpened, setInvitesOpened] = useState(() =>
    keepInviteToken(location.hash) ? 1 : 0,
  );
  useEffect(() => {
    loadRuntimeConfig().then(({ cognito: settings }) =>
      setCognito(settings ? new CognitoClient(settings as CognitoSettings) : null),
    );
    const onHash = () => {
      if (keepInviteToken(location.hash)) setInvitesOpened((n) => n + 1);
      setHash(location.hash);
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const signOut = () => {
    const refreshToken = auth?.kind === 'session' ? auth.session.refreshToken : undefined;
    // Revoked so a copy of the refresh token cannot mint new access tokens; best effort.
    if (refreshToken && cognito) cognito.revoke(refreshToken).catch(() => undefined);
    forgetKey();
    setAuth(undefined);
    location.hash = '';
  };
  useEffect(() => {
    if (!auth) document.title = 'Sign in · Tierline console';
  }, [auth]);
  if (cognito === undefined && !auth) return html`<p role="status">Loading…</p>`;
  if (!auth) {
    const keyForm = html`<${KeySignIn}
      onSignedIn=${(key: string) => {
        saveKey(key);
        setAuth({ kind: 'key', key });
        location.hash = '#/plan';
      }}
    />`;
    if (!cognito)
      return html`<main id="main" class="sign-in"><h1>Sign in to the Tierline console</h1>${keyForm}</main>`;
    return html`<${AccountAccess}
      key=${hash}
      cognito=${cognito}
      route=${accessRoute(hash)}
      keySignIn=${keyForm}
      onSignedIn=${(tokens: SessionTokens, email: string) => {
        const session = { ...tokens, email };
        saveSession(session);
        setAuth({ kind: 'session', session });
        location.hash = '#/plan';
      }}
    />`;
  }
  return html`<${SignedIn} auth=${auth} cognito=${cognito ?? undefined} onAuth=${setAuth}
    onSignOut=${signOut} invitesOpened=${invitesOpened} />`;
}

/**
 * An invitation link's token kept from before signing in: accepted with this session, its
 * organization then chosen. A refused one (expired, withdrawn, another address) is forgotten and
 * said in words; the user goes on to their own organizations.
 */
async function acceptPendingInvite(api: ConsoleApi): Promise<string | undefined> {
  const token = pendingInviteToken();
  if (!token) return undefined;
  try {
    const joined = (await invites.accept(api, token)).organization_id;
    forgetInviteToken();
    return joined;
  } catch (e) {
    // A refusal is final; an unreachable API keeps the token for the next load.
    if (e instanceof ApiError && e.status >= 400 && e.status < 500) forgetInviteToken();
    throw e;
  }
}

/**
 * A session's organization: one whose invitation was just accepted, else the saved one if the user
 * still belongs to it, else the first; a user with none yet gets its Free organization made here
 * (its first key shown once).
 */
function useOrganizations(
  api: ConsoleApi | undefined,
  auth: Auth,
  choose: (organization: string) => void,
  invitesOpened: number,
) {
  const [organizations, setOrganizations] = useState<OrganizationMembership[]>([]);
  const [firstKey, setFirstKey] = useState<SignedUpOrganization>();
  const [error, setError] = useState<unknown>();
  const userKey = auth.kind === 'session' ? auth.session.email : undefined;
  useEffect(() => {
    if (!api || auth.kind !== 'session') return;
    (async () => {
      const joined = await acceptPendingInvite(api).catch((e) => {
        setError(e);
        return undefined;
      });
      const { list, made } = await api.organizationsOrSignUp();
      if (made?.first_key) setFirstKey(made);
      setOrganizations(list);
      const kept =
        list.find((o) => o.id === joined) ??
        list.find((o) => o.id === auth.session.organization && o.status === 'active');
      const pick = kept ?? list.find((o) => o.status === 'active') ?? list[0];
      if (pick && pick.id !== auth.session.organization) choose(pick.id);
    })().catch(setError);
  }, [api, userKey, invitesOpened]);
  return { organizations, firstKey, dismissFirstKey: () => setFirstKey(undefined), error };
}

function FirstKey({ made, onDone }: { made: SignedUpOrganization; onDone: () => void }) {
  return html`<section class="notice first-key" aria-labelledby="first-key">
    <h2 id="first-key">Your Free organization is ready</h2>
    <p>This is your first API key. Copy it now: it is shown only this once.</p>
    <p><code class="secret" data-testid="first-key">${made.first_key?.value}</code>
      <${CopyButton} text=${made.first_key?.value ?? ''} label="Copy the key" /></p>
    <button type="button" class="secondary" onClick=${onDone}>I have saved it</button>
  </section>`;
}

function OrganizationSwitcher(props: {
  organizations: OrganizationMembership[];
  current: string | undefined;
  onChoose: (id: string) => void;
}) {
  if (props.organizations.length < 2) return null;
  return html`<label class="org-switcher">Organization
    <select value=${props.current} onChange=${(e: Event) => props.onChoose((e.target as HTMLSelectElement).value)}>
      ${props.organizations.map((o) => html`<option value=${o.id} disabled=${o.status !== 'active'}>${o.name}</option>`)}
    </select></label>`;
}

function SignedIn(props: {
  auth: Auth;
  cognito: CognitoClient | undefined;
  onAuth: (auth: Auth) => void;
  onSignOut: () => void;
  invitesOpened: number;
}) {
  const { auth } = props;
  const sessionRef = useRef(auth.kind === 'session' ? auth.session : undefined);
  sessionRef.current = auth.kind === 'session' ? auth.session : undefined;
  const organization = auth.kind === 'session' ? auth.session.organization : undefined;
  const credentialsKey = auth.kind === 'key' ? auth.key : auth.session.email;
  const api = useMemo(() => {
    if (auth.kind === 'key') return new ConsoleApi(auth.key, API_BASE);
    if (!props.cognito) return undefined;
    const credentials = sessionCredentials(
      props.cognito,
      () => sessionRef.current ?? auth.session,
      (session) => {
        sessionRef.current = session;
        saveSession(session);
      },
    );
    return new ConsoleApi(credentials, API_BASE);
  }, [credentialsKey, props.cognito]);
  const choose = (id: string) => {
    const session = {
      ...(sessionRef.current ?? (auth as { session: SavedSession }).session),
      organization: id,
    };
    saveSession(session);
    props.onAuth({ kind: 'session', session });
  };
  const orgs = useOrganizations(api, auth, choose, props.invitesOpened);
  const membership = orgs.organizations.find((o) => o.id === organization);
  const ready = auth.kind === 'key' || organization !== undefined;
  return html`<${Shell}
    api=${ready ? api : undefined}
    organizationKey=${organization}
    role=${membership?.role}
    onSignOut=${props.onSignOut}
    error=${orgs.error}
    above=${orgs.firstKey ? html`<${FirstKey} made=${orgs.firstKey} onDone=${orgs.dismissFirstKey} />` : null}
    switcher=${html`<${OrganizationSwitcher} organizations=${orgs.organizations} current=${organization} onChoose=${choose} />`}
  />`;
}

function Shell(props: {
  api: ConsoleApi | undefined;
  organizationKey: string | undefined;
  /** The session's role in its organization; undefined for an API key. */
  role: 'owner' | 'member' | undefined;
  onSignOut: () => void;
  error: unknown;
  above: unknown;
  switcher: unknown;
}) {
  const { api } = props;
  const [session, setSession] = useState<{ me?: Me }>({});
  useEffect(() => setSession({}), [api, props.organizationKey]);
  const [path, setPath] = useState<PagePath>(currentPath);
  const [error, setError] = useState<unknown>();
  const heading = useRef<HTMLElement>(null);

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
        setSession({ me });
      },
      (e) => {
        setError(e);
        if (!(e instanceof ApiError && e.status === 401)) {
          retry = setTimeout(() => setMeAttempt((n) => n + 1), 2_000);
          return;
        }
        props.onSignOut();
      },
    );
    return () => clearTimeout(retry);
  }, [api, session?.me, meAttempt]);

  useEffect(() => {
    document.title = `${PAGES.find((p) => p.path === path)?.label ?? 'Plan'} · Tierline console`;
  }, [path]);
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
          ${PAGES.filter((p) => pageShown(p.path, path, spendAvailable, props.role)).map(
            (p) =>
              html`<li><a href=${`#/${p.path}`} aria-current=${p.path === path ? 'page' : undefined}>${p.label}</a></li>`,
          )}
        </ul>
      </nav>
      ${props.switcher}
      <button type="button" class="secondary sign-out" onClick=${props.onSignOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1" ref=${heading}>
      ${props.above}
      ${props.error ? html`<${ErrorNotice} error=${props.error} />` : null}
      ${
        !me || !api
          ? error
            ? html`<${ErrorNotice} error=${error} /><p role="status">Trying again shortly…</p>`
            : html`<p role="status">Loading your account…</p>`
          : pageContent(path, api, me, props.role)
      }
    </main>`;
}

/** The page a path shows, for this account and (a session's) role. */
function pageContent(
  path: PagePath,
  api: ConsoleApi,
  me: Me,
  role: 'owner' | 'member' | undefined,
) {
  const owner = role === 'owner';
  switch (path) {
    case 'plan':
      return html`<${PlanPage} api=${api} tier=${me.tier} />`;
    case 'usage':
      return html`<${UsagePage} api=${api} />`;
    case 'keys':
      // An API key manages its own keys; a session's member reads them only.
      return html`<${KeysPage} api=${api} canManage=${role === undefined || owner} />`;
    case 'spend':
      return html`<${SpendPage} api=${api} />`;
    case 'billing':
      return html`<${BillingPage} api=${api} />`;
    case 'files':
      return html`<${FilesPage} api=${api} />`;
    case 'batches':
      return html`<${BatchesPage} api=${api} plan=${me.plan} />`;
    case 'fine-tuning':
      return html`<${FineTuningPage} api=${api} plan=${me.plan} />`;
    case 'projects':
      return html`<${ProjectsPage} api=${api} owner=${owner} />`;
    case 'members':
      return html`<${MembersPage} api=${api} owner=${owner} />`;
    case 'audit':
      return html`<${AuditLogPage} api=${api} />`;
    default:
      return html`<${PlaygroundPage} api=${api} plan=${me.plan} baseUrl=${`${location.origin}${API_BASE}`} />`;
  }
}
