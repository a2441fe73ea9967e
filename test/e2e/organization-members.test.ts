import OpenAI, { PermissionDeniedError } from 'openai';
import { MembershipsRepository } from '../../lambda/accounts/memberships';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { readLocalMail } from '../../local/local-cognito';
import { LOCAL_CUSTOMERS_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { signedInUser } from '../support/local-sign-in';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * Members and invites over real HTTP in local mode, with the official `openai` client's
 * `admin.organization.users` and `admin.organization.invites`: an owner's console session invites
 * an address, the invited person signs up in cognito-local, takes the link from the mail file and
 * accepts with their own session; members read and are refused an owner's actions; the last owner
 * stays one when two owners demote each other at once. Every answer is validated against OpenAI's
 * published schemas and Tierline's /openapi.json.
 */

describe('organization members and invites (official openai client, local mode)', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let memberships: MembershipsRepository;

  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend: new TestModelBackend({ replyTokens: 2, tokensPerSecond: 1_000 }),
      // A removed member's next request is refused at once (the cache is the authorizer TTL's).
      authorizerCacheTtlMs: 0,
      signIn: {},
    });
    memberships = new MembershipsRepository(
      localModeDocumentClient(local.dynamoEndpoint),
      LOCAL_CUSTOMERS_TABLE,
    );
  });
  afterAll(() => local.stop());

  const signedIn = (email: string) => signedInUser(local, email);

  const client = (token: string, organization?: string) =>
    new OpenAI({
      apiKey: token,
      adminAPIKey: token,
      ...(organization ? { organization } : {}),
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });

  /** A new organization whose first owner is a signed-in user (as sign-up will make it). */
  async function organizationWithOwner(name: string) {
    const { customer } = await local.operator.createCustomer({
      name,
      email: `billing@${name}.test`,
      tier: 'developer',
    });
    const owner = await signedIn(`owner@${name}.test`);
    await memberships.put({
      userId: owner.userId,
      customerId: customer.customerId,
      role: 'owner',
      email: `owner@${name}.test`,
      createdAt: new Date().toISOString(),
    });
    return {
      customerId: customer.customerId,
      owner,
      admin: client(owner.token, customer.customerId),
    };
  }

  const accept = (token: string, inviteToken: string) =>
    spec.fetch(`${local.openAIBaseUrl}/organization/invites/accept`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token: inviteToken }),
    });

  const inviteMailTo = (email: string) =>
    readLocalMail(local.signIn?.mailFile ?? '')
      .filter((m) => m.to === email && m.reason === 'Invite')
      .at(-1);

  it('invites by e-mail, the invited person accepts with their session (twice: same answer), and reads as a member', async () => {
    const org = await organizationWithOwner('acme');

    const invite = await org.admin.admin.organization.invites.create({
      email: 'Newcomer@Acme.test',
      role: 'reader',
    });
    const listed = await org.admin.admin.organization.invites.list();
    const mail = inviteMailTo('newcomer@acme.test');
    const newcomer = await signedIn('newcomer@acme.test');
    const accepted = await accept(newcomer.token, mail?.code ?? '');
    const again = await accept(newcomer.token, mail?.code ?? '');
    const member = client(newcomer.token, org.customerId);
    const users = await member.admin.organization.users.list();

    expect(invite).toMatchObject({
      object: 'organization.invite',
      email: 'newcomer@acme.test',
      role: 'reader',
      status: 'pending',
    });
    expect(invite.expires_at).toBe((invite.created_at ?? 0) + 7 * 24 * 3600);
    expect(listed.data.map((i) => i.id)).toEqual([invite.id]);
    expect(mail?.link).toBe(`${local.consoleUrl}#/invite?token=${mail?.code}`);
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({
      organization_id: org.customerId,
      user: { id: newcomer.userId, role: 'reader', email: 'newcomer@acme.test' },
    });
    expect(again.status).toBe(200);
    // The retry is recorded once: one acceptance, one user added.
    const log = await org.admin.admin.organization.auditLogs.list({ limit: 20 });
    expect(log.data.filter((entry) => entry.type === 'invite.accepted')).toHaveLength(1);
    expect(log.data.filter((entry) => entry.type === 'user.added')).toEqual([
      expect.objectContaining({
        'user.added': { id: newcomer.userId, data: { role: 'member' } },
        actor: expect.objectContaining({ type: 'session' }),
      }),
    ]);
    expect((await org.admin.admin.organization.invites.retrieve(invite.id)).status).toBe(
      'accepted',
    );
    expect(users.data.map((u) => [u.email, u.role]).sort()).toEqual([
      ['newcomer@acme.test', 'reader'],
      ['owner@acme.test', 'owner'],
    ]);
    // The member reads the invites too, and is refused every owner's action with 403.
    expect((await member.admin.organization.invites.list()).data).toHaveLength(1);
    await expect(
      member.admin.organization.users.update(org.owner.userId, { role: 'reader' }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(
      member.admin.organization.invites.create({ email: 'x@acme.test', role: 'owner' }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(member.admin.organization.users.delete(org.owner.userId)).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
  });

  it('refuses the link to another signed-in address, a forged token, and an API key', async () => {
    const org = await organizationWithOwner('guarded');
    await org.admin.admin.organization.invites.create({
      email: 'right@guarded.test',
      role: 'owner',
    });
    const token = inviteMailTo('right@guarded.test')?.code ?? '';
    const wrong = await signedIn('wrong@guarded.test');
    const { apiKey } = await local.operator.createCustomer({
      name: 'Key holder',
      email: 'keys@guarded.test',
      tier: 'developer',
    });

    const byWrongPerson = await accept(wrong.token, token);
    const forged = await accept(wrong.token, `${token.slice(0, -5)}AAAAA`);
    const byKey = await accept(apiKey as string, token);
    const noToken = await accept(wrong.token, '');

    expect(byWrongPerson.status).toBe(403);
    expect(await byWrongPerson.json()).toMatchObject({ error: { code: 'invite_email_mismatch' } });
    expect(forged.status).toBe(404);
    expect(byKey.status).toBe(403);
    expect(await byKey.json()).toMatchObject({ error: { code: 'session_required' } });
    expect(noToken.status).toBe(400);
    expect(await memberships.get(wrong.userId, org.customerId)).toBeUndefined();
  });

  it('changes roles, keeps one owner when two owners demote each other at once, and removes a member', async () => {
    const org = await organizationWithOwner('pair');
    await org.admin.admin.organization.invites.create({ email: 'second@pair.test', role: 'owner' });
    const second = await signedIn('second@pair.test');
    expect((await accept(second.token, inviteMailTo('second@pair.test')?.code ?? '')).status).toBe(
      200,
    );
    const secondAdmin = client(second.token, org.customerId);

    const results = await Promise.allSettled([
      org.admin.admin.organization.users.update(second.userId, { role: 'reader' }),
      secondAdmin.admin.organization.users.update(org.owner.userId, { role: 'reader' }),
    ]);
    const owners =
      (await org.admin.admin.organization.users.list().catch(() => undefined))?.data ??
      (await secondAdmin.admin.organization.users.list()).data;

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ status: 400, code: 'last_owner' });
    expect(owners.filter((u) => u.role === 'owner')).toHaveLength(1);

    // The remaining owner removes the other; the removed user's next request is refused (404).
    const remaining = owners.find((u) => u.role === 'owner')?.id;
    const [stays, goes] =
      remaining === org.owner.userId ? [org.admin, secondAdmin] : [secondAdmin, org.admin];
    const goner = remaining === org.owner.userId ? second.userId : org.owner.userId;
    const deleted = await stays.admin.organization.users.delete(goner);
    expect(deleted).toEqual({ object: 'organization.user.deleted', id: goner, deleted: true });
    await expect(goes.admin.organization.users.list()).rejects.toMatchObject({ status: 404 });
    await expect(stays.admin.organization.users.delete(remaining ?? '')).rejects.toMatchObject({
      status: 400,
      code: 'last_owner',
    });
  });

  it('keeps a removed member out: the link they accepted before does not let them back in', async () => {
    const org = await organizationWithOwner('evicted');
    await org.admin.admin.organization.invites.create({
      email: 'gone@evicted.test',
      role: 'reader',
    });
    const link = inviteMailTo('gone@evicted.test')?.code ?? '';
    const gone = await signedIn('gone@evicted.test');
    expect((await accept(gone.token, link)).status).toBe(200);

    await org.admin.admin.organization.users.delete(gone.userId);
    const reused = await accept(gone.token, link);

    expect(reused.status).toBe(404);
    expect(await reused.json()).toMatchObject({ error: { code: 'invite_not_found' } });
    expect(await memberships.get(gone.userId, org.customerId)).toBeUndefined();
    await expect(
      client(gone.token, org.customerId).admin.organization.users.list(),
    ).rejects.toMatchObject({ status: 404 });
    // Invited again, they join again with the new link.
    await org.admin.admin.organization.invites.create({
      email: 'gone@evicted.test',
      role: 'reader',
    });
    const again = await accept(gone.token, inviteMailTo('gone@evicted.test')?.code ?? '');
    expect(again.status).toBe(200);
  });

  it('answers 404, not 500, for a user id or an organization too long to be a key', async () => {
    const org = await organizationWithOwner('lengthy');
    const longId = 'u'.repeat(3_000);

    const user = await spec.fetch(`${local.openAIBaseUrl}/organization/users/${longId}`, {
      headers: {
        authorization: `Bearer ${org.owner.token}`,
        'openai-organization': org.customerId,
      },
    });
    const organization = await spec.fetch(`${local.openAIBaseUrl}/organization/users`, {
      headers: { authorization: `Bearer ${org.owner.token}`, 'openai-organization': `c${longId}` },
    });

    expect(user.status).toBe(404);
    expect(await user.json()).toMatchObject({ error: { code: 'user_not_found' } });
    expect(organization.status).toBe(404);
    expect(await organization.json()).toMatchObject({ error: { code: 'organization_not_found' } });
  });

  it('holds a signed-in session to the rate limit of the project it picks in OpenAI-Project', async () => {
    const org = await organizationWithOwner('narrowed');
    const project = await org.admin.admin.organization.projects.create({ name: 'Capped' });
    await org.admin.admin.organization.projects.rateLimits.updateRateLimit('rl-qwen3-8b', {
      project_id: project.id,
      max_requests_per_1_minute: 1,
    });
    const inProject = new OpenAI({
      apiKey: org.owner.token,
      organization: org.customerId,
      project: project.id,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });
    const chat = () =>
      inProject.chat.completions.create({
        model: 'qwen3-8b',
        messages: [{ role: 'user', content: 'hi' }],
      });

    // Both requests in one UTC minute: the second is refused by the first's count.
    await clearOfMinuteBoundary(10_000);
    await chat();
    const second = await chat().then(
      () => undefined,
      (error: unknown) => error,
    );

    expect(second).toBeInstanceOf(OpenAI.RateLimitError);
    expect((second as Error).message).toMatch(/project `proj_/);
  });

  it('refuses an invite to an address no mail can reach (control, unicode, angle brackets, empty labels) with 400 naming email', async () => {
    const org = await organizationWithOwner('addresses');
    const undeliverable = [
      'a\u0001b@addresses.test',
      'a\u0000@addresses.test',
      'ann@addresses.test\u200b',
      'a<b>@addresses.test',
      'a,b@addresses.test',
      'ann@addresses..test',
      '.ann@addresses.test',
      'ann@-addresses.test',
    ];

    const answers = await Promise.all(
      undeliverable.map((email) =>
        org.admin.admin.organization.invites.create({ email, role: 'reader' }).then(
          () => email,
          (error: unknown) => error,
        ),
      ),
    );

    for (const answer of answers) {
      expect(answer).toMatchObject({ status: 400, param: 'email', code: 'invalid_value' });
    }
    expect((await org.admin.admin.organization.invites.list()).data).toEqual([]);
    // Ordinary addresses still pass: a tag, dots, digits, a hyphenated subdomain.
    await expect(
      org.admin.admin.organization.invites.create({
        email: 'Ann.Lee+ops_1@eu-west.addresses.test',
        role: 'reader',
      }),
    ).resolves.toMatchObject({ email: 'ann.lee+ops_1@eu-west.addresses.test' });
  });

  it("refuses an API key sent with another organization's id in OpenAI-Organization (401), as OpenAI does", async () => {
    const org = await organizationWithOwner('keyholder');
    const other = await organizationWithOwner('bystander');
    const adminKey = await local.operator.createAdminKey(org.customerId, 'ops');
    const { apiKey } = await local.operator.createCustomer({
      name: 'Project keys',
      email: 'keys@keyholder.test',
      tier: 'developer',
    });
    const withOrganization = (key: string, organization: string) =>
      new OpenAI({
        apiKey: key,
        adminAPIKey: key,
        organization,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
        fetch: spec.fetch,
      });

    // An admin script pointed at the other organization must not act on its own instead.
    const removal = await withOrganization(adminKey.key, other.customerId)
      .admin.organization.users.delete(org.owner.userId)
      .catch((error: unknown) => error);
    const inference = await withOrganization(apiKey as string, other.customerId)
      .chat.completions.create({ model: 'qwen3-8b', messages: [{ role: 'user', content: 'hi' }] })
      .catch((error: unknown) => error);
    const own = await withOrganization(
      adminKey.key,
      org.customerId,
    ).admin.organization.users.list();

    expect(removal).toMatchObject({ status: 401, code: 'mismatched_organization' });
    expect(inference).toMatchObject({ status: 401, code: 'mismatched_organization' });
    expect(own.data.map((user) => user.id)).toEqual([org.owner.userId]);
  });

  it('keeps a leaked admin key from making an owner, by invite or by promotion (403), as it cannot mint admin keys', async () => {
    const org = await organizationWithOwner('leaky');
    await org.admin.admin.organization.invites.create({
      email: 'plain@leaky.test',
      role: 'reader',
    });
    const plain = await signedIn('plain@leaky.test');
    await accept(plain.token, inviteMailTo('plain@leaky.test')?.code ?? '');
    const adminKey = await local.operator.createAdminKey(org.customerId, 'leaked');
    const admin = client(adminKey.key);

    const ownerInvite = await admin.admin.organization.invites
      .create({ email: 'attacker@elsewhere.test', role: 'owner' })
      .catch((error: unknown) => error);
    const promotion = await admin.admin.organization.users
      .update(plain.userId, { role: 'owner' })
      .catch((error: unknown) => error);
    const readerInvite = await admin.admin.organization.invites.create({
      email: 'helper@leaky.test',
      role: 'reader',
    });

    expect(ownerInvite).toMatchObject({ status: 403, code: 'insufficient_permissions' });
    expect(promotion).toMatchObject({ status: 403, code: 'insufficient_permissions' });
    expect(inviteMailTo('attacker@elsewhere.test')).toBeUndefined();
    expect((await memberships.get(plain.userId, org.customerId))?.role).toBe('member');
    expect(readerInvite).toMatchObject({ role: 'reader', status: 'pending' });
    // An owner's session still makes owners.
    await expect(
      org.admin.admin.organization.users.update(plain.userId, { role: 'owner' }),
    ).resolves.toMatchObject({ role: 'owner' });
  });

  it('lets an admin key manage invites, records every action in the audit log, and 404s another organization’s objects', async () => {
    const org = await organizationWithOwner('audited');
    const other = await organizationWithOwner('elsewhere');
    const adminKey = await local.operator.createAdminKey(org.customerId, 'ops');
    const admin = client(adminKey.key);

    const invite = await admin.admin.organization.invites.create({
      email: 'temp@audited.test',
      role: 'reader',
    });
    await expect(other.admin.admin.organization.invites.retrieve(invite.id)).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      other.admin.admin.organization.users.retrieve(org.owner.userId),
    ).rejects.toMatchObject({ status: 404 });
    const deleted = await admin.admin.organization.invites.delete(invite.id);
    await org.admin.admin.organization.users.update(org.owner.userId, { role: 'owner' });
    const log = await admin.admin.organization.auditLogs.list({ limit: 20 });

    expect(deleted).toEqual({
      object: 'organization.invite.deleted',
      id: invite.id,
      deleted: true,
    });
    expect(log.data.map((entry) => entry.type)).toEqual(
      expect.arrayContaining(['invite.sent', 'invite.deleted', 'user.updated']),
    );
    const sent = log.data.find((entry) => entry.type === 'invite.sent');
    expect(sent?.['invite.sent']).toEqual({
      id: invite.id,
      data: { email: 'temp@audited.test', role: 'member' },
    });
    expect(sent?.actor).toMatchObject({ type: 'api_key', api_key: { id: adminKey.id } });
  });
});
