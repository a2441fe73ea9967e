import type { Context } from 'hono';
import { Hono } from 'hono';
import type { OrganizationSignUp } from '../../accounts/sign-up';
import type { SessionIdentity } from '../../customers/authenticate';
import { AuthenticationError, PermissionDeniedError } from '../../openai/errors';
import type { ApiDependencies, AppEnv } from '../types';
import { readJsonObject } from './request-bodies';

/** Self-service sign-up and the session's organizations (lambda/accounts/sign-up.ts). */
export interface SignUpApi {
  /**
   * The caller's console session, verified; undefined when the request carries no session token
   * (an API key or nothing: the route then asks `principalOf`, which answers 401 or a key).
   */
  sessionOf(c: Context): Promise<SessionIdentity | undefined>;
  service: Pick<OrganizationSignUp, 'signUp' | 'organizations'>;
}

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
