import type { SavedSession } from './cognito';

export type { SavedSession };

/**
 * What the console keeps of a sign-in lives in sessionStorage only: it is gone when the tab closes,
 * never in a URL, a cookie (bearer tokens only, so no request can be forged cross-site),
 * localStorage or a log. Either an API key or a Cognito session (tokens, the address, the chosen
 * organization).
 */
const KEY = 'tierline.apiKey';
const SESSION = 'tierline.session';

function read(name: string): string | undefined {
  try {
    return sessionStorage.getItem(name) ?? undefined;
  } catch {
    return undefined;
  }
}

export function savedKey(): string | undefined {
  return read(KEY);
}

export function saveKey(apiKey: string): void {
  sessionStorage.setItem(KEY, apiKey);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SESSION);
}

export function savedSession(): SavedSession | undefined {
  const text = read(SESSION);
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as SavedSession;
    return parsed.accessToken && parsed.refreshToken ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: SavedSession): void {
  sessionStorage.setItem(SESSION, JSON.stringify(session));
}
