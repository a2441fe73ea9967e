import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { type Invite, invites, members, type OrganizationUser, type Role } from '../admin-api';
import type { ConsoleApi } from '../api-client';
import { formatDate } from '../format';
import { ErrorNotice, Loading, TableScroll, useLoad } from '../ui';

const ROLE_WORDS: Record<Role, string> = { owner: 'Owner', reader: 'Member' };

/**
 * The Members page: the organization's people and pending invitations. Owners invite by e-mail
 * with a role, change roles and remove; members see the same lists with no buttons, since the API
 * would refuse them (403).
 */
export function MembersPage({ api, owner }: { api: ConsoleApi; owner: boolean }) {
  const people = useLoad(() => members.list(api), [api]);
  const pending = useLoad(
    async () => (await invites.list(api)).filter((i) => i.status === 'pending'),
    [api],
  );
  const [error, setError] = useState<unknown>();
  const act = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      people.reload();
      pending.reload();
    } catch (e) {
      setError(e);
    }
  };
  return html`<section aria-labelledby="members-title">
    <h1 id="members-title">Members</h1>
    <p class="lead">${
      owner
        ? 'Owners manage the organization; members use it and read its usage.'
        : 'You are a member: you can see who belongs to this organization. Owners manage it.'
    }</p>
    ${owner ? html`<${InviteForm} api=${api} onInvited=${() => pending.reload()} />` : null}
    <${ErrorNotice} error=${error} />
    ${people.error ? html`<${ErrorNotice} error=${people.error} />` : null}
    ${
      people.data
        ? html`<${MemberTable} people=${people.data} owner=${owner} act=${act} api=${api} />`
        : people.error
          ? null
          : html`<${Loading} what="the members" />`
    }
    ${
      pending.data && pending.data.length > 0
        ? html`<${InviteTable} pending=${pending.data} owner=${owner} act=${act} api=${api} />`
        : null
    }
  </section>`;
}

function InviteForm({ api, onInvited }: { api: ConsoleApi; onInvited: () => void }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('reader');
  const [error, setError] = useState<unknown>();
  const [sent, setSent] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const invite = await invites.create(api, email.trim(), role);
      setSent(invite.email);
      setEmail('');
      onInvited();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="inline-form" aria-label="Invite a member" onSubmit=${submit}>
      <label>E-mail address <input name="email" type="email" required value=${email}
        onInput=${(e: Event) => setEmail((e.target as HTMLInputElement).value)} /></label>
      <label>Role <select name="role" value=${role}
        onChange=${(e: Event) => setRole((e.target as HTMLSelectElement).value as Role)}>
        <option value="reader">Member</option><option value="owner">Owner</option></select></label>
      <button type="submit" disabled=${busy}>Send invitation</button>
    </form>
    ${sent ? html`<p class="notice success" role="status">${`An invitation is on its way to ${sent}.`}</p>` : null}
    <${ErrorNotice} error=${error} />`;
}

function MemberTable(props: {
  api: ConsoleApi;
  people: OrganizationUser[];
  owner: boolean;
  act: (action: () => Promise<unknown>) => void;
}) {
  const { api, act } = props;
  const remove = (user: OrganizationUser) => {
    if (window.confirm(`Remove ${user.email} from this organization?`))
      act(() => members.remove(api, user.id));
  };
  return html`<${TableScroll} label="Members of this organization">
    <table>
      <caption>Members</caption>
      <thead><tr><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Added (UTC)</th>
        ${props.owner ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}</tr></thead>
      <tbody>${props.people.map(
        (user) => html`<tr data-user-id=${user.id}>
          <th scope="row">${user.email}</th>
          <td>${
            props.owner
              ? html`<select aria-label=${`Role of ${user.email}`} value=${user.role}
                  onChange=${(e: Event) =>
                    act(() =>
                      members.setRole(api, user.id, (e.target as HTMLSelectElement).value as Role),
                    )}>
                  <option value="reader">Member</option><option value="owner">Owner</option></select>`
              : ROLE_WORDS[user.role]
          }</td>
          <td>${formatDate(user.added_at)}</td>
          ${
            props.owner
              ? html`<td><button type="button" class="danger" aria-label=${`Remove ${user.email}`}
                  onClick=${() => remove(user)}>Remove</button></td>`
              : null
          }
        </tr>`,
      )}</tbody>
    </table>
  <//>`;
}

function InviteTable(props: {
  api: ConsoleApi;
  pending: Invite[];
  owner: boolean;
  act: (action: () => Promise<unknown>) => void;
}) {
  return html`<${TableScroll} label="Pending invitations">
    <table>
      <caption>Pending invitations</caption>
      <thead><tr><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Expires (UTC)</th>
        ${props.owner ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}</tr></thead>
      <tbody>${props.pending.map(
        (invite) => html`<tr data-invite-id=${invite.id}>
          <th scope="row">${invite.email}</th>
          <td>${ROLE_WORDS[invite.role]}</td>
          <td>${formatDate(invite.expires_at)}</td>
          ${
            props.owner
              ? html`<td><button type="button" class="secondary"
                  aria-label=${`Withdraw the invitation of ${invite.email}`}
                  onClick=${() => props.act(() => invites.remove(props.api, invite.id))}>Withdraw</button></td>`
              : null
          }
        </tr>`,
      )}</tbody>
    </table>
  <//>`;
}
