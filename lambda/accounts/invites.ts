import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBase62 } from '../customers/api-keys';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../openai/errors';
import { type InviteRecord, type InvitesRepository, MAX_INVITE_LINKS } from './invites-repository';
import type { Membership, MembershipsRepository } from './memberships';
import type { OrganizationOwners } from './organization-owners';

/**
 * The SSM parameter that holds the console's address, for the links in invitations (set on the API
 * function by the API stack). A parameter, not the address itself: the address is the console's
 * CloudFront distribution, which depends on the API's stage, which depends on this function.
 */
export const CONSOLE_URL_PARAMETER_ENV = 'CONSOLE_URL_PARAMETER';
export const consoleUrlParameterName = (env: string) => `/tierline/${env}/console-url`;

/** How long an invite's link works: OpenAI's invites expire too; seven days is what issue 22 asks. */
export const INVITE_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
const MAX_EMAIL_LENGTH = 254;
const SECRET_LENGTH = 43;

/** An invitation e-mail: SES in AWS, the mail file in local mode. */
export interface InviteMail {
  customerId: string;
  inviteId: string;
  to: string;
  subject: string;
  text: string;
  /** The console page that accepts it, with the token. */
  link: string;
  /** The single-use token itself (local mode's mail file shows it, as it shows sign-up codes). */
  token: string;
}

export interface InviteMailer {
  send(mail: InviteMail): Promise<void>;
}

/** Whom a verified session belongs to: Cognito's GetUser with the session's own access token. */
export interface UserDirectory {
  /** The user's e-mail address when Cognito says it is verified; undefined otherwise. */
  verifiedEmailOf(accessToken: string): Promise<string | undefined>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** One invite per organization and address, so a repeated invite (a retry) is the same object. */
const inviteIdOf = (customerId: string, email: string) =>
  `invite-${sha256(`${customerId}\n${email}`).slice(0, 24)}`;

/** The link's token: `<customerId>.<inviteId>.<secret>`; only the secret's hash is stored. */
function parseToken(token: string): { customerId: string; inviteId: string; secret: string } {
  const match = /^([0-9A-Za-z_-]{1,80})\.(invite-[0-9a-f]{24})\.([0-9A-Za-z]{43})$/.exec(token);
  if (!match) throw inviteLinkInvalid();
  return { customerId: match[1] ?? '', inviteId: match[2] ?? '', secret: match[3] ?? '' };
}

function inviteLinkInvalid(): NotFoundError {
  return new NotFoundError(
    'This invitation link is not valid, or was replaced by a newer invitation: ask for a new one.',
    { code: 'invite_not_found' },
  );
}

/**
 * An address mail can reach, as SES takes it: a 7-bit ASCII local part of RFC 5322's atom
 * characters in dot-separated runs (no control character, bracket or comma that would break the
 * To header or name no one), and a domain of letter/digit/hyphen labels. Quoted local parts and
 * address literals are refused: no one is invited at them.
 */
const DELIVERABLE_EMAIL =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}$/;

export function parseInviteEmail(value: unknown): string {
  const email = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (email.length > MAX_EMAIL_LENGTH || !DELIVERABLE_EMAIL.test(email)) {
    throw new BadRequestError("'email' must be an e-mail address.", {
      param: 'email',
      code: value === undefined || value === null ? 'missing_required_parameter' : 'invalid_value',
    });
  }
  return email;
}

/** `expired` is a pending invite past its time, as OpenAI shows it. */
export const inviteStatusOf = (invite: InviteRecord, now: Date) =>
  invite.status === 'pending' && Date.parse(invite.expiresAt) <= now.getTime()
    ? ('expired' as const)
    : invite.status;

export interface InvitesDeps {
  invites: InvitesRepository;
  memberships: Pick<MembershipsRepository, 'get' | 'add' | 'setRole' | 'listForOrganization'>;
  owners: Pick<OrganizationOwners, 'add'>;
  mailer: InviteMailer;
  users: UserDirectory;
  /** Whether the organization takes members (not suspended or deleted). */
  organizationActive: (customerId: string) => Promise<boolean>;
  /** The console's address: the link is `<consoleUrl>#/invite?token=...`. */
  consoleUrl: () => string | Promise<string>;
  now: () => Date;
}

/**
 * Invitations (OpenAI's `/organization/invites`) and their acceptance by the invited person's own
 * signed-in session, whose verified e-mail must be the invited address. Sending an invite again
 * to the same address replaces it (a new link, seven more days): a retried create never leaves two.
 */
export class Invites {
  constructor(private readonly deps: InvitesDeps) {}

  async create(
    customerId: string,
    input: { email: string; role: Membership['role']; invitedBy: string },
  ): Promise<InviteRecord> {
    await this.refuseMember(customerId, input.email);
    const now = this.deps.now();
    const inviteId = inviteIdOf(customerId, input.email);
    const secret = randomBase62(SECRET_LENGTH);
    const sent = {
      inviteId,
      customerId,
      email: input.email,
      role: input.role,
      status: 'pending' as const,
      tokenHash: sha256(secret),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + INVITE_LIFETIME_MS).toISOString(),
      invitedBy: input.invitedBy,
    };
    // Stored before it is sent: a mail whose link is not stored would be a dead link.
    let invite = await this.deps.invites.send(sent, now);
    if (invite === 'accepted') invite = await this.replaceAccepted(sent);
    if (invite === 'too_many_links') {
      throw new BadRequestError(
        `This invite was sent ${MAX_INVITE_LINKS} times: delete it, then invite ${input.email} again.`,
        { param: 'email', code: 'invite_sent_too_often' },
      );
    }
    const token = `${customerId}.${inviteId}.${secret}`;
    const link = `${await this.deps.consoleUrl()}#/invite?token=${encodeURIComponent(token)}`;
    await this.deps.mailer.send({
      customerId,
      inviteId,
      to: input.email,
      subject: 'You are invited to a Tierline organization',
      text:
        `You are invited to join organization ${customerId} on Tierline as ` +
        `${input.role === 'owner' ? 'an owner' : 'a member'}. Sign in (or sign up) with this ` +
        `address, then open ${link} . The link works once, for seven days.`,
      link,
      token,
    });
    return invite;
  }

  private async refuseMember(customerId: string, email: string): Promise<void> {
    const members = await this.deps.memberships.listForOrganization(customerId);
    if (members.some((member) => member.email.toLowerCase() === email)) {
      throw new BadRequestError(`${email} is already a member of this organization.`, {
        param: 'email',
        code: 'user_already_member',
      });
    }
  }

  /**
   * The invite was accepted: by someone who joined since this create checked (400, a member), or
   * by a member removed before a clean-up that did not finish (the invite is written anew).
   */
  private async replaceAccepted(
    sent: Parameters<InvitesRepository['send']>[0],
  ): Promise<InviteRecord> {
    await this.refuseMember(sent.customerId, sent.email);
    const stored = await this.deps.invites.get(sent.customerId, sent.inviteId);
    if (stored?.status === 'accepted') {
      if (await this.deps.invites.replaceAccepted(sent, stored.acceptedBy)) {
        const { tokenHash, ...fields } = sent;
        return { ...fields, tokenHashes: [tokenHash] };
      }
    }
    throw new BadRequestError(
      `The invite to ${sent.email} changed while it was sent: look at it, then send it again.`,
      { code: 'invite_changed' },
    );
  }

  list(customerId: string): Promise<InviteRecord[]> {
    return this.deps.invites.list(customerId);
  }

  async get(customerId: string, inviteId: string): Promise<InviteRecord> {
    const invite = /^invite-[0-9a-f]{24}$/.test(inviteId)
      ? await this.deps.invites.get(customerId, inviteId)
      : undefined;
    if (!invite) {
      throw new NotFoundError(`No invite found with id '${inviteId}'.`, {
        code: 'invite_not_found',
      });
    }
    return invite;
  }

  /** Deletes a pending (or expired) invite; an accepted one stays, as OpenAI keeps it. */
  async delete(customerId: string, inviteId: string): Promise<void> {
    await this.get(customerId, inviteId);
    if (await this.deps.invites.deletePending(customerId, inviteId)) return;
    await this.get(customerId, inviteId);
    throw new BadRequestError('This invite was accepted already: remove the user instead.', {
      code: 'invite_accepted',
    });
  }

  /**
   * Accepts an invite for the signed-in user: once (the first acceptance marks it), by the invited
   * address only, within seven days. Marked first, membership after, so a retry after a crash
   * finds the invite accepted by this user and adds what is missing.
   */
  async accept(
    session: { userId: string; accessToken: string },
    token: string,
  ): Promise<{ invite: InviteRecord; membership: Membership; firstAcceptance: boolean }> {
    const { customerId, inviteId, secret } = parseToken(token);
    const invite = await this.deps.invites.get(customerId, inviteId);
    const given = sha256(secret);
    if (!invite?.tokenHashes.some((hash) => sameHash(hash, given))) throw inviteLinkInvalid();
    const email = await this.deps.users.verifiedEmailOf(session.accessToken);
    if (email?.toLowerCase() !== invite.email) {
      throw new PermissionDeniedError(
        `This invitation is for ${invite.email}: sign in with that address (verified) to accept it.`,
        { code: 'invite_email_mismatch' },
      );
    }
    if (!(await this.deps.organizationActive(customerId))) {
      throw new PermissionDeniedError(
        'This organization is suspended: ask its owner or Tierline support.',
        { code: 'organization_inactive' },
      );
    }
    const now = this.deps.now();
    if (!(await this.deps.invites.accept(invite, given, session.userId, now))) {
      if (inviteStatusOf(invite, now) === 'expired') {
        throw new BadRequestError('This invitation has expired: ask for a new one.', {
          code: 'invite_expired',
        });
      }
      throw inviteLinkInvalid();
    }
    const membership = await this.joinAs(invite, session.userId, email, now);
    // A retry (the invite read as accepted by this user) answers the same and records nothing new.
    const firstAcceptance = invite.status === 'pending';
    return { invite: { ...invite, status: 'accepted' }, membership, firstAcceptance };
  }

  /** Adds the membership, or raises an existing member to owner when the invite says owner. */
  private async joinAs(invite: InviteRecord, userId: string, email: string, now: Date) {
    const fresh: Membership = {
      userId,
      customerId: invite.customerId,
      role: invite.role,
      email,
      createdAt: now.toISOString(),
    };
    const added = await this.deps.memberships.add(fresh);
    const membership = added ? fresh : await this.deps.memberships.get(userId, invite.customerId);
    if (!membership) throw inviteLinkInvalid();
    if (invite.role === 'owner') {
      if (membership.role !== 'owner') {
        await this.deps.memberships.setRole(userId, invite.customerId, 'owner');
      }
      await this.deps.owners.add(invite.customerId, userId);
      return { ...membership, role: 'owner' as const };
    }
    return membership;
  }
}

function sameHash(stored: string, given: string): boolean {
  const a = Buffer.from(stored);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
