import type { LocalCognito } from './local-cognito';

/** What the console reads at start: where its user pool is (none: API-key sign-in only). */
export interface ConsoleRuntimeConfig {
  cognito: { endpoint: string; clientId: string } | null;
}

export const CONSOLE_CONFIG_PATH = '/console-config.json';
/** Same origin as the console, so its CSP keeps `connect-src 'self'` in local mode. */
const COGNITO_PATH = '/cognito';

/**
 * The console's runtime config and, in local mode, cognito-local's JSON API relayed under the
 * console's own origin: the browser calls `/cognito` with the same `X-Amz-Target` requests it sends
 * Cognito in AWS. Only the body and the target header pass; no cookie or credential is involved.
 */
export function consoleRuntime(signIn: () => LocalCognito | undefined) {
  return {
    owns: (pathname: string) => pathname === CONSOLE_CONFIG_PATH || pathname === COGNITO_PATH,
    async fetch(request: Request): Promise<Response> {
      const pool = signIn();
      const { pathname } = new URL(request.url);
      if (pathname === CONSOLE_CONFIG_PATH) {
        const config: ConsoleRuntimeConfig = {
          cognito: pool ? { endpoint: COGNITO_PATH, clientId: pool.clientId } : null,
        };
        return Response.json(config, { headers: { 'cache-control': 'no-cache' } });
      }
      if (!pool) return new Response('Not found', { status: 404 });
      if (request.method !== 'POST') return new Response('Method not allowed', { status: 405 });
      const answer = await fetch(pool.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': request.headers.get('x-amz-target') ?? '',
        },
        body: await request.text(),
      });
      return new Response(await answer.text(), {
        status: answer.status,
        headers: { 'content-type': answer.headers.get('content-type') ?? 'application/json' },
      });
    },
  };
}
