import type { Context } from 'hono';
import { Hono } from 'hono';
import type { SignUpApi } from '../../accounts/sign-up';
import type { SessionIdentity } from '../../customers/authenticate';
import { AuthenticationError, PermissionDeniedError } from '../../openai/errors';
import type { ApiDependencies, AppEnv } from '../types';
import { readJsonObject } from './request-bodies';

/**
 * `POST /account/organizations` (a verified user's Free organization, its first key shown once)
 * and `GET /account/organizations` (the user's organizations, for the console's switcher). Mounted
 * before the principal middleware: a new user has no organization to act for yet. A session only:
 * an API key already belongs to an organization (403).
 */
export function signUpRoutes(deps: ApiDependencies, signUp: SignUpApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const sessionOnly = async (c: Context): Promise<SessionIdentity & { accessToken: string }> => {
    const session = await signUp.sessionOf(c);
    if (!session) {
      await deps.principalOf(c);
      throw new PermissionDeniedError(
        'Organizations are created and listed with a console session, not an API key: sign in to the console.',
        { code: 'session_required' },
      );
    }
    const accessToken = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (!accessToken) throw new AuthenticationError();
    return { ...session, accessToken };
  };
  routes.post('/account/organizations', async (c) => {
    const session = await sessionOnly(c);
    const body = await readJsonObject(c);
    const organization = await signUp.service.signUp(session, body);
    return c.json(organization);
  });
  routes.get('/account/organizations', async (c) => {
    const session = await sessionOnly(c);
    return c.json({ object: 'list', data: await signUp.service.organizations(session.userId) });
  });
  return routes;
}
