import * as z from 'zod/mini';
import type { SignUpConfig } from '../../lib/config/schema';
import { type CreatedCustomer, newCustomerId } from '../customers/customer-creation';
import type { CustomersRepository } from '../customers/customers-repository';
import { defaultProjectId } from '../customers/key-permissions';
import { HttpError, PermissionDeniedError } from '../openai/errors';
import { bodySchema, field, optional } from '../openai/request-body';
import type { OrganizationMembership, SignedUpOrganization } from '../openai/shapes/sign-up';
import type { Membership, MembershipsRepository } from './memberships';
import type { SignUpClaim, SignUpClaimsRepository } from './sign-up-claims';

/** What the user pool says of the signed-in user (Cognito's `GetUser` on the access token). */
export interface PoolUser {
  email: string | undefined;
  emailVerified: boolean;
}

export type { OrganizationMembership, SignedUpOrganization };

/** Self-service sign-up and the session's organizations (lambda/accounts/sign-up.ts). */
export interface SignUpApi {
  service: Pick<OrganizationSignUp, 'signUp' | 'organizations'>;
}

export interface SignUpDeps {
  claims: SignUpClaimsRepository;
  memberships: Pick<MembershipsRepository, 'put' | 'listForUser'>;
  customers: Pick<CustomersRepository, 'getCustomer'>;
  /** The verified-address check: Cognito's `GetUser` with the caller's own access token. */
  poolUser: (accessToken: string) => Promise<PoolUser>;
  /** `customers create`'s code (lambda/customers/customer-creation.ts), under the claim's id. */
  createCustomer: (
    input: { name: string; email: string; tier: 'free' },
    customerId: string,
  ) => Promise<CreatedCustomer>;
  settings: SignUpConfig;
  now?: () => Date;
}

/**
 * How long a sign-up run holds its claim: past the API function's timeout (29 s, API Gateway's
 * integration limit), so a live run is never taken over and a crashed one is resumed a minute on.
 */
export const SIGN_UP_LEASE_MS = 60_000;
const MAX_NAME_LENGTH = 200;

const signUpBody = bodySchema({
  name: field(
    optional(
      z
        .string()
        .check(
          z.refine((v) => v.trim() !== '' && v.length <= MAX_NAME_LENGTH && !/\p{Cc}/u.test(v)),
        ),
    ),
    `'name' must be 1 to ${MAX_NAME_LENGTH} printable characters: the organization's name.`,
    'invalid_name',
  ),
});

/**
 * Gmail delivers `a.nn@`, `ann@` and `ann@googlemail.com` to one mailbox: dots in its local part
 * are ignored and googlemail.com is the same service (Google's "Gmail doesn't recognize dots").
 */
const GMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

/**
 * The address as one mailbox: trimmed, lower case, and without a `+tag` (`ann+2@x.com` is
 * `ann@x.com`'s mailbox at most providers), Gmail's dots and alias domain folded, so one mailbox
 * gets one Free organization.
 */
export function normalizeEmail(email: string): string {
  const [local = '', domain = ''] = email
    .trim()
    .toLowerCase()
    .split(/@(?=[^@]*$)/);
  const untagged = local.replace(/\+.*$/, '');
  if (GMAIL_DOMAINS.has(domain)) return `${untagged.replaceAll('.', '')}@gmail.com`;
  return `${untagged}@${domain}`;
}

/** Whether the address's domain, or a parent of it, is on the disposable list. */
export function isDisposable(email: string, disposableDomains: readonly string[]): boolean {
  const domain = email.slice(email.lastIndexOf('@') + 1);
  const labels = domain.split('.');
  const listed = new Set(disposableDomains);
  return labels.some((_, i) => listed.has(labels.slice(i).join('.')));
}

const conflict = (message: string, code: string) =>
  new HttpError(409, 'invalid_request_error', message, { code });

/**
 * Self-service sign-up: a verified user's first Free organization (issue 22, row 2). One per
 * verified address, decided by a conditional write on the address's claim, so concurrent calls
 * create one; a repeated call after a crash resumes the same organization (the claim holds its id
 * before anything is created), and one after success answers it again without a key.
 */
export class OrganizationSignUp {
  private readonly now: () => Date;

  constructor(private readonly deps: SignUpDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async signUp(
    session: { userId: string; accessToken: string },
    body: Record<string, unknown>,
  ): Promise<SignedUpOrganization> {
    const { name } = signUpBody.check(body);
    // The mailbox decides "one Free organization"; the address as verified is the one we keep
    // and write to (folding tags and Gmail's dots is for counting, not for sending).
    const { address: email, mailbox } = await this.verifiedAddress(session.accessToken);
    await this.countAttempt(mailbox);
    const claim = await this.holdClaim(mailbox, session.userId);
    if (claim.state === 'complete') return this.organizationOf(claim, undefined, false);
    const created = await this.deps.createCustomer(
      { name: typeof name === 'string' ? name.trim() : defaultName(email), email, tier: 'free' },
      claim.customerId,
    );
    if (created.customer.customerId !== claim.customerId) {
      // The operator made a customer with this address before it signed up: not the user's to own.
      await this.deps.claims.release(mailbox, session.userId);
      throw conflict(
        'An organization already uses this e-mail address: ask its owner to invite you.',
        'email_in_use',
      );
    }
    const membership: Membership = {
      userId: session.userId,
      customerId: claim.customerId,
      role: 'owner',
      email,
      createdAt: this.now().toISOString(),
    };
    await this.deps.memberships.put(membership);
    await this.deps.claims.complete(mailbox, session.userId);
    return this.organizationOf(claim, created, created.created);
  }

  /** The user's organizations, for the console's switcher: each with its name, tier and role. */
  async organizations(userId: string): Promise<OrganizationMembership[]> {
    const memberships = await this.deps.memberships.listForUser(userId);
    const found = await Promise.all(
      memberships.map(async (membership) => {
        const customer = await this.deps.customers.getCustomer(membership.customerId);
        if (!customer || customer.status === 'deleted') return undefined;
        return {
          object: 'organization' as const,
          id: membership.customerId,
          name: customer.name,
          tier: customer.tier,
          role: membership.role,
          status: customer.status === 'active' ? ('active' as const) : ('inactive' as const),
        };
      }),
    );
    return found.filter((organization) => organization !== undefined);
  }

  private async verifiedAddress(
    accessToken: string,
  ): Promise<{ address: string; mailbox: string }> {
    const user = await this.deps.poolUser(accessToken);
    if (!user.email || !user.emailVerified) {
      throw new PermissionDeniedError(
        'Verify your e-mail address first: enter the code we sent you, then sign in again.',
        { code: 'email_not_verified' },
      );
    }
    const mailbox = normalizeEmail(user.email);
    if (isDisposable(mailbox, this.deps.settings.disposableDomains)) {
      throw new HttpError(
        400,
        'invalid_request_error',
        'Sign up with a lasting e-mail address: this domain gives throwaway addresses.',
        { code: 'disposable_email', param: 'email' },
      );
    }
    return { address: user.email.trim().toLowerCase(), mailbox };
  }

  private async countAttempt(email: string): Promise<void> {
    const now = this.now();
    const hour = now.toISOString().slice(0, 13);
    const limit = this.deps.settings.attemptsPerHour;
    if (await this.deps.claims.countAttempt(email, hour, limit)) return;
    const nextHour = Math.ceil((now.getTime() + 1) / 3_600_000) * 3_600_000;
    const seconds = Math.max(1, Math.ceil((nextHour - now.getTime()) / 1000));
    throw new HttpError(
      429,
      'rate_limit_error',
      `Too many sign-up attempts for this address: at most ${limit} an hour. Try again later.`,
      { code: 'sign_up_rate_limited', headers: { 'retry-after': String(seconds) } },
    );
  }

  /** The address's claim for this user: new, resumed after a crash, or already complete. */
  private async holdClaim(email: string, userId: string): Promise<SignUpClaim> {
    const now = this.now();
    const fresh: SignUpClaim = {
      email,
      userId,
      customerId: newCustomerId(),
      state: 'creating',
      leaseUntil: now.getTime() + SIGN_UP_LEASE_MS,
      createdAt: now.toISOString(),
    };
    if (await this.deps.claims.claim(fresh)) return fresh;
    const held = await this.deps.claims.get(email);
    // Released in between (the operator's customer was found): claim it again.
    if (!held) return this.holdClaim(email, userId);
    if (held.userId !== userId) {
      throw conflict(
        'This e-mail address already signed up for a Free organization.',
        'email_already_signed_up',
      );
    }
    if (held.state === 'complete') return held;
    const resumed = { ...held, leaseUntil: fresh.leaseUntil };
    if (
      held.leaseUntil <= now.getTime() &&
      (await this.deps.claims.takeOver(resumed, held.leaseUntil))
    )
      return resumed;
    const seconds = Math.max(1, Math.ceil((held.leaseUntil - now.getTime()) / 1000));
    throw new HttpError(
      409,
      'invalid_request_error',
      'Your organization is being created: try again in a moment.',
      { code: 'sign_up_in_progress', headers: { 'retry-after': String(seconds) } },
    );
  }

  private async organizationOf(
    claim: SignUpClaim,
    created: CreatedCustomer | undefined,
    isNew: boolean,
  ): Promise<SignedUpOrganization> {
    const key = isNew && created?.apiKey ? created.apiKey : undefined;
    const customer = created?.customer ?? (await this.deps.customers.getCustomer(claim.customerId));
    return {
      object: 'organization',
      id: claim.customerId,
      name: customer?.name ?? '',
      tier: 'free',
      role: 'owner',
      default_project_id: defaultProjectId(claim.customerId),
      first_key: key ? { value: key, hint: customer?.keyHint ?? '' } : null,
      created: isNew,
    };
  }
}

function defaultName(email: string): string {
  return `${email.slice(0, email.indexOf('@'))}'s organization`.slice(0, MAX_NAME_LENGTH);
}
