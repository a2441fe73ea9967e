import type { Context } from 'hono';
import { Hono } from 'hono';
import type { AuditEventType } from '../../accounts/audit-log';
import { requireOwnerGrantAllowed } from '../../accounts/authorization';
import { parseInviteEmail } from '../../accounts/invites';
import { inviteView, userView } from '../../accounts/member-views';
import { membershipRoleOf } from '../../accounts/members';
import { bearerToken } from '../../customers/api-keys';
import { BadRequestError, PermissionDeniedError } from '../../openai/errors';
import type { AccountServicesApi, ApiDependencies, AppEnv, MemberServicesApi } from '../types';
import { requestOrigin } from './organization';
import { pageOf, readJsonObject } from './request-bodies';

/** Who did it, for the invite: a user's id or an admin key's id. */
function actorId(c: Context<AppEnv>): string {
  const principal = c.get('principal');
  return (principal.kind === 'session' ? principal.userId : principal.keyId) ?? 'unknown';
}

/** `emails` as OpenAI's client sends it (`emails[]=a&emails[]=b`) or repeated `emails=`. */
function emailsFilter(c: Context): Set<string> | undefined {
  const given = [...(c.req.queries('emails') ?? []), ...(c.req.queries('emails[]') ?? [])];
  return given.length > 0 ? new Set(given.map((email) => email.trim().toLowerCase())) : undefined;
}

function userRoutes(
  members: MemberServicesApi['members'],
  record: (c: Context<AppEnv>, type: AuditEventType, details: Record<string, unknown>) => unknown,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const customerOf = (c: Context<AppEnv>) => c.get('principal').customerId;
  routes.get('/organization/users', async (c) => {
    const emails = emailsFilter(c);
    const all = (await members.list(customerOf(c))).filter(
      (member) => !emails || emails.has(member.email.toLowerCase()),
    );
    return c.json(pageOf(all.map(userView), (user) => user.id, c));
  });
  routes.get('/organization/users/:user_id', async (c) =>
    c.json(userView(await members.get(customerOf(c), c.req.param('user_id')))),
  );
  routes.post('/organization/users/:user_id', async (c) => {
    const body = await readJsonObject(c);
    const role = membershipRoleOf(body.role, 'role');
    const userId = c.req.param('user_id');
    if (role === 'owner' && c.get('principal').kind !== 'session') {
      // Another organization's or no user is a 404 whoever asks; only then is the key refused.
      await members.get(customerOf(c), userId);
      requireOwnerGrantAllowed(c.get('principal'), role);
    }
    const member = await members.setRole(customerOf(c), userId, role);
    await record(c, 'user.updated', { id: userId, changes_requested: { role } });
    return c.json(userView(member));
  });
  routes.delete('/organization/users/:user_id', async (c) => {
    const userId = c.req.param('user_id');
    await members.remove(customerOf(c), userId);
    await record(c, 'user.deleted', { id: userId });
    return c.json({ object: 'organization.user.deleted' as const, id: userId, deleted: true });
  });
  return routes;
}

function inviteRoutes(
  invites: MemberServicesApi['invites'],
  record: (c: Context<AppEnv>, type: AuditEventType, details: Record<string, unknown>) => unknown,
  now: () => Date,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const customerOf = (c: Context<AppEnv>) => c.get('principal').customerId;
  routes.get('/organization/invites', async (c) => {
    const all = (await invites.list(customerOf(c))).sort((a, b) =>
      a.createdAt === b.createdAt
        ? a.inviteId.localeCompare(b.inviteId)
        : a.createdAt < b.createdAt
          ? -1
          : 1,
    );
    return c.json(
      pageOf(
        all.map((invite) => inviteView(invite, now())),
        (i) => i.id,
        c,
      ),
    );
  });
  routes.post('/organization/invites', async (c) => {
    const body = await readJsonObject(c);
    const email = parseInviteEmail(body.email);
    const role = membershipRoleOf(body.role, 'role');
    requireOwnerGrantAllowed(c.get('principal'), role);
    if (body.projects !== undefined && body.projects !== null && !Array.isArray(body.projects)) {
      throw new BadRequestError("'projects' must be an array.", {
        param: 'projects',
        code: 'invalid_value',
      });
    }
    const invite = await invites.create(customerOf(c), { email, role, invitedBy: actorId(c) });
    await record(c, 'invite.sent', { id: invite.inviteId, data: { email, role } });
    return c.json(inviteView(invite, now()));
  });
  routes.get('/organization/invites/:invite_id', async (c) =>
    c.json(inviteView(await invites.get(customerOf(c), c.req.param('invite_id')), now())),
  );
  routes.delete('/organization/invites/:invite_id', async (c) => {
    const id = c.req.param('invite_id');
    await invites.delete(customerOf(c), id);
    await record(c, 'invite.deleted', { id });
    return c.json({ object: 'organization.invite.deleted' as const, id, deleted: true });
  });
  return routes;
}

/**
 * OpenAI's `/organization/users` and `/organization/invites`: owners (sessions) and admin keys
 * manage, members read (lambda/accounts/authorization.ts decides before these run). Every change
 * is in the audit log.
 */
export function organizationMemberRoutes(
  deps: Pick<ApiDependencies, 'now'>,
  accounts: AccountServicesApi,
  services: MemberServicesApi,
): Hono<AppEnv> {
  const now = () => deps.now?.() ?? new Date();
  const record = (c: Context<AppEnv>, type: AuditEventType, details: Record<string, unknown>) =>
    accounts.audit.record(c.get('principal'), requestOrigin(c), type, details);
  const routes = new Hono<AppEnv>();
  routes.route('/', userRoutes(services.members, record));
  routes.route('/', inviteRoutes(services.invites, record, now));
  return routes;
}

/**
 * `POST /organization/invites/accept` with `{ "token": "..." }`: the invited person's own session
 * joins the organization. It runs before the organization is chosen (the person belongs to none
 * yet), so it reads the session itself; an API key is refused. The token travels in the body, not
 * the path, so it is never in an access log.
 */
export function inviteAcceptRoutes(
  deps: Pick<ApiDependencies, 'sessionOf' | 'principalOf'>,
  accounts: AccountServicesApi,
  services: MemberServicesApi,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.post('/organization/invites/accept', async (c) => {
    const session = await deps.sessionOf?.(c);
    if (!session) {
      // A wrong key is a 401, as on every other route; a good one is the wrong credential here.
      await deps.principalOf(c);
      throw new PermissionDeniedError(
        'An invitation is accepted by the invited person signed in to the console, not with an API key.',
        { code: 'session_required' },
      );
    }
    const body = await readJsonObject(c);
    if (typeof body.token !== 'string' || body.token === '') {
      throw new BadRequestError("'token' is required: the token of the invitation link.", {
        param: 'token',
        code: body.token === undefined ? 'missing_required_parameter' : 'invalid_value',
      });
    }
    const token = body.token;
    const accessToken = bearerToken(c.req.header('authorization')) ?? '';
    const { invite, membership, firstAcceptance } = await services.invites.accept(
      { userId: session.userId, accessToken },
      token,
    );
    const actor = {
      kind: 'session' as const,
      userId: session.userId,
      customerId: invite.customerId,
    };
    const origin = requestOrigin(c);
    if (firstAcceptance) {
      await accounts.audit.record(actor, origin, 'invite.accepted', { id: invite.inviteId });
      await accounts.audit.record(actor, origin, 'user.added', {
        id: session.userId,
        data: { role: membership.role },
      });
    }
    return c.json({
      object: 'organization.invite.accepted' as const,
      organization_id: invite.customerId,
      user: userView(membership),
    });
  });
  return routes;
}
