import type { InviteMail } from '../../../lambda/accounts/invites';
import { INVITE_LIFETIME_MS, Invites } from '../../../lambda/accounts/invites';
import {
  type InviteRecord,
  InvitesRepository,
  MAX_INVITE_LINKS,
} from '../../../lambda/accounts/invites-repository';
import { Members } from '../../../lambda/accounts/members';
import { MembershipsRepository } from '../../../lambda/accounts/memberships';
import { OrganizationOwners } from '../../../lambda/accounts/organization-owners';
import { HttpError } from '../../../lambda/openai/errors';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/**
 * Members and invites against dynalite: roles, the last owner kept under concurrency, removals, and
 * invites accepted once, by the invited address, within seven days, idempotent on retry.
 */
describe('members and invites (dynalite)', () => {
  let dynamo: LocalDynamo;
  let memberships: MembershipsRepository;
  let owners: OrganizationOwners;
  let members: Members;
  let invitesRepository: InvitesRepository;
  let invites: Invites;
  let sent: InviteMail[];
  let clock: Date;
  const verified = new Map<string, string>();
  let organizationCounter = 0;

  beforeAll(async () => {
    dynamo = await startDynalite();
    const { tableName } = await newCustomersTable(dynamo);
    const doc = createDocumentClient(dynamo.client);
    memberships = new MembershipsRepository(doc, tableName);
    owners = new OrganizationOwners(doc, tableName, memberships);
    invitesRepository = new InvitesRepository(doc, tableName);
    members = new Members(memberships, owners, invitesRepository);
    invites = new Invites({
      invites: invitesRepository,
      memberships,
      owners,
      mailer: { send: async (mail) => void sent.push(mail) },
      users: { verifiedEmailOf: async (token) => verified.get(token) },
      consoleUrl: () => 'https://console.test',
      organizationActive: async (customerId) => customerId !== 'cus_suspended',
      now: () => clock,
    });
  });
  afterAll(() => dynamo.stop());
  beforeEach(() => {
    sent = [];
    clock = new Date('2026-12-07T12:00:00.000Z');
  });

  /** A new organization with these users, each `[userId, role]`, written as sign-up writes them. */
  async function organization(...users: [string, 'owner' | 'member'][]): Promise<string> {
    organizationCounter += 1;
    const customerId = `cus_members${organizationCounter}`;
    for (const [userId, role] of users) {
      await memberships.put({
        userId,
        customerId,
        role,
        email: `${userId}@example.com`,
        createdAt: new Date(Date.UTC(2026, 11, 1, 0, organizationCounter)).toISOString(),
      });
    }
    return customerId;
  }

  const errorOf = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      if (error instanceof HttpError) return { status: error.status, code: error.code };
      throw error;
    }
    throw new Error('expected an error');
  };

  it('lists the members and changes a role both ways', async () => {
    const org = await organization(['ann', 'owner'], ['bob', 'member']);

    const promoted = await members.setRole(org, 'bob', 'owner');
    const demoted = await members.setRole(org, 'ann', 'member');

    expect(promoted.role).toBe('owner');
    expect(demoted.role).toBe('member');
    expect((await members.list(org)).map((m) => [m.userId, m.role])).toEqual([
      ['ann', 'member'],
      ['bob', 'owner'],
    ]);
  });

  it('refuses to demote or remove the last owner, and answers 404 for another organization’s user', async () => {
    const org = await organization(['solo', 'owner'], ['reader', 'member']);
    const other = await organization(['stranger', 'owner']);

    expect(await errorOf(members.setRole(org, 'solo', 'member'))).toEqual({
      status: 400,
      code: 'last_owner',
    });
    expect(await errorOf(members.remove(org, 'solo'))).toEqual({ status: 400, code: 'last_owner' });
    expect(await errorOf(members.get(org, 'stranger'))).toEqual({
      status: 404,
      code: 'user_not_found',
    });
    expect(await errorOf(members.remove(org, 'stranger'))).toMatchObject({ status: 404 });
    expect((await memberships.get('stranger', other))?.role).toBe('owner');
    expect((await memberships.get('solo', org))?.role).toBe('owner');
    // A member who is not an owner leaves whatever the owners are.
    await members.remove(org, 'reader');
    expect(await memberships.get('reader', org)).toBeUndefined();
  });

  it('leaves exactly one owner when two owners demote each other at the same moment (20 rounds)', async () => {
    for (let round = 0; round < 20; round += 1) {
      const org = await organization(['x', 'owner'], ['y', 'owner']);
      const outcomes = await Promise.allSettled([
        round % 2 === 0 ? members.setRole(org, 'x', 'member') : members.remove(org, 'x'),
        members.setRole(org, 'y', 'member'),
      ]);

      const left = (await members.list(org)).filter((m) => m.role === 'owner');
      expect(left).toHaveLength(1);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ status: 400, code: 'last_owner' });
    }
  });

  it('finishes a demotion a crash cut between the guard and the membership when it is retried', async () => {
    const org = await organization(['p', 'owner'], ['q', 'owner']);
    // The crash: the guard released p, the membership write never happened.
    expect(await owners.release(org, 'p')).toBe(true);
    expect((await memberships.get('p', org))?.role).toBe('owner');

    const retried = await members.setRole(org, 'p', 'member');

    expect(retried.role).toBe('member');
    expect((await memberships.get('p', org))?.role).toBe('member');
    // q is the last owner now, and stays one.
    expect(await errorOf(members.setRole(org, 'q', 'member'))).toMatchObject({
      code: 'last_owner',
    });
  });

  it('sends an invite with a single-use link and keeps only the hash of its token', async () => {
    const org = await organization(['owner1', 'owner']);

    const invite = await invites.create(org, {
      email: 'new@example.com',
      role: 'member',
      invitedBy: 'owner1',
    });

    expect(sent).toHaveLength(1);
    const [mail] = sent;
    expect(mail?.link).toBe(
      `https://console.test#/invite?token=${encodeURIComponent(mail?.token ?? '')}`,
    );
    const stored = JSON.stringify(await invitesRepository.get(org, invite.inviteId));
    const secret = mail?.token.split('.')[2] ?? '';
    expect(secret).toHaveLength(43);
    expect(stored).not.toContain(secret);
    expect(invite.expiresAt).toBe(new Date(clock.getTime() + INVITE_LIFETIME_MS).toISOString());
  });

  it('accepts once for the invited verified address, again for the same user (retry), never for another', async () => {
    const org = await organization(['o', 'owner']);
    await invites.create(org, { email: 'joiner@example.com', role: 'owner', invitedBy: 'o' });
    const token = sent[0]?.token ?? '';
    verified.set('joiner-token', 'Joiner@Example.com');
    verified.set('other-token', 'other@example.com');

    const wrongPerson = await errorOf(
      invites.accept({ userId: 'other', accessToken: 'other-token' }, token),
    );
    const first = await invites.accept({ userId: 'joiner', accessToken: 'joiner-token' }, token);
    const again = await invites.accept({ userId: 'joiner', accessToken: 'joiner-token' }, token);
    verified.set('other-token', 'joiner@example.com');
    const someoneElse = await errorOf(
      invites.accept({ userId: 'impostor', accessToken: 'other-token' }, token),
    );

    expect(wrongPerson).toEqual({ status: 403, code: 'invite_email_mismatch' });
    expect(first.membership).toMatchObject({ userId: 'joiner', role: 'owner', customerId: org });
    expect(first.firstAcceptance).toBe(true);
    expect(again.membership).toMatchObject({ userId: 'joiner', role: 'owner' });
    expect(again.firstAcceptance).toBe(false);
    expect(someoneElse).toEqual({ status: 404, code: 'invite_not_found' });
    expect((await invites.get(org, first.invite.inviteId)).status).toBe('accepted');
    // The owner invite counts: the first owner may step down now.
    await members.setRole(org, 'o', 'member');
    expect(
      (await members.list(org)).filter((m) => m.role === 'owner').map((m) => m.userId),
    ).toEqual(['joiner']);
  });

  it('refuses an expired invite, a forged secret and another organization’s invite id', async () => {
    const org = await organization(['o2', 'owner']);
    await invites.create(org, { email: 'late@example.com', role: 'member', invitedBy: 'o2' });
    const token = sent[0]?.token ?? '';
    verified.set('late-token', 'late@example.com');
    const [, inviteId] = token.split('.');
    const forged = `${org}.${inviteId}.${'A'.repeat(43)}`;
    const elsewhere = `cus_elsewhere.${inviteId}.${token.split('.')[2]}`;

    expect(
      await errorOf(invites.accept({ userId: 'u', accessToken: 'late-token' }, forged)),
    ).toEqual({ status: 404, code: 'invite_not_found' });
    expect(
      await errorOf(invites.accept({ userId: 'u', accessToken: 'late-token' }, elsewhere)),
    ).toEqual({ status: 404, code: 'invite_not_found' });
    expect(await errorOf(invites.accept({ userId: 'u', accessToken: 'late-token' }, 'x'))).toEqual({
      status: 404,
      code: 'invite_not_found',
    });
    clock = new Date(clock.getTime() + INVITE_LIFETIME_MS + 1);
    expect(
      await errorOf(invites.accept({ userId: 'u', accessToken: 'late-token' }, token)),
    ).toEqual({
      status: 400,
      code: 'invite_expired',
    });
    expect(await memberships.get('u', org)).toBeUndefined();
  });

  it('re-sending an invite keeps one invite whose every mailed link works; an accepted one cannot be deleted', async () => {
    const org = await organization(['o3', 'owner']);
    const first = await invites.create(org, {
      email: 'twice@example.com',
      role: 'member',
      invitedBy: 'o3',
    });
    clock = new Date(clock.getTime() + 60_000);
    const second = await invites.create(org, {
      email: 'twice@example.com',
      role: 'member',
      invitedBy: 'o3',
    });
    verified.set('twice-token', 'twice@example.com');

    expect(second.inviteId).toBe(first.inviteId);
    expect(second.expiresAt).toBe(new Date(clock.getTime() + INVITE_LIFETIME_MS).toISOString());
    expect(await invites.list(org)).toHaveLength(1);
    // The first mail's link works: the person may open either mail.
    await invites.accept({ userId: 't', accessToken: 'twice-token' }, sent[0]?.token ?? '');
    // The same user's retry through the other link answers the same; nobody else gets in.
    await invites.accept({ userId: 't', accessToken: 'twice-token' }, sent[1]?.token ?? '');
    expect(await errorOf(invites.delete(org, first.inviteId))).toEqual({
      status: 400,
      code: 'invite_accepted',
    });
    expect(
      await errorOf(
        invites.create(org, { email: 'twice@example.com', role: 'member', invitedBy: 'o3' }),
      ),
    ).toEqual({ status: 400, code: 'user_already_member' });
  });

  it('keeps every mailed link working when 3 invites to one address race (20 rounds)', async () => {
    for (let round = 0; round < 20; round += 1) {
      const org = await organization([`racer${round}`, 'owner']);
      const email = `racing${round}@example.com`;
      sent = [];
      await Promise.all(
        Array.from({ length: 3 }, () =>
          invites.create(org, { email, role: 'member', invitedBy: `racer${round}` }),
        ),
      );
      expect(await invites.list(org)).toHaveLength(1);
      expect(sent).toHaveLength(3);
      verified.set(`racing-token-${round}`, email);
      // Each mail's link is accepted (the first by the invited user, the others as that user's
      // retries): none was left dead by a create that wrote over another's.
      for (const mail of sent) {
        const accepted = await invites.accept(
          { userId: `joiner${round}`, accessToken: `racing-token-${round}` },
          mail.token,
        );
        expect(accepted.membership).toMatchObject({ userId: `joiner${round}`, customerId: org });
      }
    }
  });

  it('keeps every link of 3 sends racing over an expired invite (20 rounds), none refused', async () => {
    for (let round = 0; round < 20; round += 1) {
      const org = await organization([`renew${round}`, 'owner']);
      const email = `renewed${round}@example.com`;
      const send = () => invites.create(org, { email, role: 'member', invitedBy: `renew${round}` });
      await send();
      clock = new Date(clock.getTime() + INVITE_LIFETIME_MS + 1);
      sent = [];
      await Promise.all([send(), send(), send()]);
      verified.set(`renew-token-${round}`, email);
      for (const mail of sent) {
        await invites.accept(
          { userId: `renewer${round}`, accessToken: `renew-token-${round}` },
          mail.token,
        );
      }
      expect(sent).toHaveLength(3);
    }
  });

  it('does not write an invite back to pending over its acceptance, nor revive an expired link', async () => {
    const org = await organization(['o5', 'owner']);
    await invites.create(org, { email: 'slow@example.com', role: 'member', invitedBy: 'o5' });
    const expiredToken = sent[0]?.token ?? '';
    clock = new Date(clock.getTime() + INVITE_LIFETIME_MS + 1);
    await invites.create(org, { email: 'slow@example.com', role: 'member', invitedBy: 'o5' });
    verified.set('slow-token', 'slow@example.com');

    // Sent again after it expired: a new invite, the expired link stays dead.
    expect(
      await errorOf(invites.accept({ userId: 's', accessToken: 'slow-token' }, expiredToken)),
    ).toEqual({ status: 404, code: 'invite_not_found' });
    await invites.accept({ userId: 's', accessToken: 'slow-token' }, sent[1]?.token ?? '');
    // A send that checked the members before the acceptance writes nothing over it.
    const [accepted] = await invites.list(org);
    expect(
      await invitesRepository.send(
        { ...(accepted as InviteRecord), status: 'pending', tokenHash: 'f'.repeat(64) },
        clock,
      ),
    ).toBe('accepted');
    expect(await invites.list(org)).toEqual([accepted]);
    expect(accepted?.status).toBe('accepted');
  });

  it(`refuses a ${MAX_INVITE_LINKS + 1}th link for one pending invite: delete it and invite again`, async () => {
    const org = await organization(['o6', 'owner']);
    const send = () =>
      invites.create(org, { email: 'often@example.com', role: 'member', invitedBy: 'o6' });
    for (let i = 0; i < MAX_INVITE_LINKS; i += 1) await send();
    expect(await errorOf(send())).toEqual({ status: 400, code: 'invite_sent_too_often' });
    await invites.delete(org, (await invites.list(org))[0]?.inviteId ?? '');
    await send();
    expect((await invites.list(org))[0]?.tokenHashes).toHaveLength(1);
  });

  it('deletes a pending invite, and answers 404 for it afterwards and in another organization', async () => {
    const org = await organization(['o4', 'owner']);
    const other = await organization(['o5', 'owner']);
    const invite = await invites.create(org, {
      email: 'gone@example.com',
      role: 'member',
      invitedBy: 'o4',
    });

    expect(await errorOf(invites.get(other, invite.inviteId))).toMatchObject({ status: 404 });
    expect(await errorOf(invites.delete(other, invite.inviteId))).toMatchObject({ status: 404 });
    await invites.delete(org, invite.inviteId);
    expect(await errorOf(invites.get(org, invite.inviteId))).toEqual({
      status: 404,
      code: 'invite_not_found',
    });
  });
});
