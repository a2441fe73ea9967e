import { ApiError } from './api-client';
import type { CognitoClient, CognitoSettings, SavedSession } from './cognito';

/** Refreshed this long before the access token expires, so no request carries a token about to lapse. */
const REFRESH_MARGIN_MS = 60_000;

/**
 * The headers of a session's request: a fresh access token as bearer (refreshed with the refresh
 * token when it is about to expire; concurrent requests share one refresh) and the chosen
 * organization in `OpenAI-Organization`. A refused refresh ends the session with a 401.
 */
export function sessionCredentials(
  cognito: CognitoClient,
  current: () => SavedSession,
  onRefreshed: (session: SavedSession) => void,
  now: () => number = () => Date.now(),
): () => Promise<Record<string, string>> {
  let refreshing: Promise<SavedSession> | undefined;
  return async () => {
    let session = current();
    if (session.expiresAt - REFRESH_MARGIN_MS <= now()) {
      const stale = session;
      refreshing ??= cognito
        .refresh(stale.refreshToken)
        .then((tokens) => ({ ...stale, ...tokens }))
        .finally(() => {
          refreshing = undefined;
        });
      try {
        session = await refreshing;
      } catch {
        throw new ApiError(
          401,
          'The session could not be renewed.',
          'Your session has ended',
          'Sign in again.',
        );
      }
      onRefreshed(session);
    }
    return {
      authorization: `Bearer ${session.accessToken}`,
      ...(session.organization ? { 'openai-organization': session.organization } : {}),
    };
  };
}

/** The console's runtime config (`/console-config.json`): its user pool, or none (API keys only). */
export async function loadRuntimeConfig(): Promise<{ cognito: CognitoSettings | null }> {
  try {
    const response = await fetch('/console-config.json');
    if (!response.ok) return { cognito: null };
    const config = (await response.json()) as { cognito?: CognitoSettings | null };
    return { cognito: config.cognito?.endpoint && config.cognito.clientId ? config.cognito : null };
  } catch {
    return { cognito: null };
  }
}
