/**
 * The signed-in API key lives in sessionStorage only: it is gone when the tab closes, never in a
 * URL, a cookie, localStorage or a log.
 */
const KEY = 'tierline.apiKey';

export function savedKey(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function saveKey(apiKey: string): void {
  sessionStorage.setItem(KEY, apiKey);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}
