/**
 * An invitation link (`#/invite?token=...`, lambda/accounts/invites.ts) opened before signing in:
 * its token is kept in this tab's sessionStorage through sign-up, verification and sign-in, and
 * accepted once a session exists. Never in localStorage: the token admits its holder.
 */
const INVITE = 'tierline.inviteToken';

/** Keeps the token of an invitation link; true when the hash was one. */
export function keepInviteToken(hash: string): boolean {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  if (path !== 'invite') return false;
  const token = new URLSearchParams(query).get('token');
  try {
    if (token) sessionStorage.setItem(INVITE, token);
  } catch {
    // Storage refused (a private mode): the link can be opened again once signed in.
  }
  return true;
}

export function pendingInviteToken(): string | undefined {
  try {
    return sessionStorage.getItem(INVITE) ?? undefined;
  } catch {
    return undefined;
  }
}

export function forgetInviteToken(): void {
  try {
    sessionStorage.removeItem(INVITE);
  } catch {
    // Nothing kept.
  }
}
