import { type APIGatewayClient, GetApiKeysCommand } from '@aws-sdk/client-api-gateway';
import { MembershipsRepository } from '../../../lambda/accounts/memberships';
import {
  isDisposable,
  normalizeEmail,
  OrganizationSignUp,
  type PoolUser,
  SIGN_UP_LEASE_MS,
} from '../../../lambda/accounts/sign-up';
import { SignUpClaimsRepository } from '../../../lambda/accounts/sign-up-claims';
import { hashApiKey } from '../../../lambda/customers/api-keys';
import { CustomerCreation } from '../../../lambda/customers/customer-creation';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { pooledUsageIdentifier } from '../../../lambda/customers/edge-key-pool';
import { HttpError } from '../../../lambda/openai/errors';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { loadConfig } from '../../../lib/config/load';
import type { TierName } from '../../../lib/config/schema';
import { ApiGatewayEmulator } from '../../../local/api-gateway-emulator';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/**
 * Self-service sign-up against dynalite, with the operator's customer creation on the local API
 * Gateway emulation: one Free organization per verified address under concurrency, resumed after a
 * crash, rate-limited, and never for a disposable or unverified address. The user pool is the one
 * part stood in for (a token's user); test/e2e/sign-up.test.ts runs it against cognito-local.
 */
describe('OrganizationSignUp', () => {
  let dynamo: LocalDynamo;
  let emulator: ApiGatewayEmulator;
  let customers: CustomersRepository;
  let memberships: MembershipsRepository;
  let claims: SignUpClaimsRepository;
  let clock: number;
  const users = new Map<string, PoolUser>();

  beforeAll(async () => {
    dynamo = await startDynalite();
    await ApiGatewayEmulator.createTable(dynamo.client);
    emulator = new ApiGatewayEmulator(createDocumentClient(dynamo.client));
    await emulator.upsertPlan('plan_free', 'tierline-test-free', { rateLimit: 5, burstLimit: 10 });
  });
  afterAll(() => dynamo.stop());
  beforeEach(async () => {
    const table = await newCustomersTable(dynamo);
    customers = table.repository;
    const doc = createDocumentClient(dynamo.client);
    memberships = new MembershipsRepository(doc, table.tableName);
    claims = new SignUpClaimsRepository(doc, table.tableName);
    clock = Date.parse('2026-12-07T10:00:00Z');
  });

  function signUpWith(
    options: {
      attemptsPerHour?: number;
      disposableDomains?: string[];
      apiGateway?: Pick<APIGatewayClient, 'send'>;
      /** Where Free pools keys (lambda/customers/edge-key-pool.ts); by default it does not. */
      pooledUsageIdentifier?: (tier: TierName, customerId: string) => string | undefined;
      afterCreate?: () => void;
    } = {},
  ) {
    const creation = new CustomerCreation({
      customers,
      apiGateway: options.apiGateway ?? emulator.asClient(),
      environmentName: 'test',
      tierPlanId: async () => 'plan_free',
      pooledUsageIdentifier: options.pooledUsageIdentifier ?? (() => undefined),
    });
    return new OrganizationSignUp({
      claims,
      memberships,
      customers,
      poolUser: async (token) => {
        const user = users.get(token);
        if (!user) throw new Error(`unknown token ${token}`);
        return user;
      },
      createCustomer: async (input, customerId) => {
        const created = await creation.create(input, customerId);
        options.afterCreate?.();
        return created;
      },
      settings: {
        attemptsPerHour: options.attemptsPerHour ?? 100,
        disposableDomains: options.disposableDomains ?? [],
      },
      now: () => new Date(clock),
    });
  }

  const session = (userId: string, email: string, emailVerified = true) => {
    users.set(`token-${userId}`, { email, emailVerified });
    return { userId, accessToken: `token-${userId}` };
  };
  const statusOf = (promise: Promise<unknown>) =>
    promise.then(
      () => 200,
      (error: unknown) => (error instanceof HttpError ? error.status : 500),
    );
  const allCustomers = async () => (await customers.listCustomers({ limit: 100 })).customers;

  it('creates a Free organization, its owner and a first key shown once', async () => {
    const signUp = signUpWith();
    const ann = session('user-ann', 'Ann@Example.com');

    const first = await signUp.signUp(ann, { name: 'Ann Labs' });
    const again = await signUp.signUp(ann, {});

    expect(first).toMatchObject({ object: 'organization', tier: 'free', role: 'owner' });
    expect(first.created).toBe(true);
    expect(first.default_project_id).toMatch(/^proj_/);
    const key = first.first_key?.value ?? '';
    const stored = await customers.getKey(hashApiKey(key));
    expect(stored).toMatchObject({ customerId: first.id, tier: 'free', status: 'active' });
    expect(await customers.getCustomer(first.id)).toMatchObject({
      name: 'Ann Labs',
      email: 'ann@example.com',
      status: 'active',
      tier: 'free',
    });
    expect(await memberships.listForUser('user-ann')).toEqual([
      expect.objectContaining({ customerId: first.id, role: 'owner', email: 'ann@example.com' }),
    ]);
    expect(again).toMatchObject({
      id: first.id,
      name: 'Ann Labs',
      created: false,
      first_key: null,
    });
    expect(await signUp.organizations('user-ann')).toEqual([
      {
        object: 'organization',
        id: first.id,
        name: 'Ann Labs',
        tier: 'free',
        role: 'owner',
        status: 'active',
      },
    ]);
  });

  it('creates one organization when ten calls of one user race, and refuses a second user of the address', async () => {
    const signUp = signUpWith();
    const bob = session('user-bob', 'bob@example.com');
    const otherBob = session('user-bob-2', 'BOB+again@example.com');

    const results = await Promise.allSettled([
      ...Array.from({ length: 10 }, () => signUp.signUp(bob, {})),
      signUp.signUp(otherBob, {}),
    ]);

    const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as HttpError).toBody().error.code] : [],
    );
    expect(done.filter((r) => r.first_key !== null)).toHaveLength(1);
    expect(new Set(done.map((r) => r.id)).size).toBe(1);
    expect(await allCustomers()).toHaveLength(1);
    expect(refused.length + done.length).toBe(11);
    // The other user of the same mailbox always loses; the same user's racers wait for the first.
    expect(refused).toContain('email_already_signed_up');
    expect(
      refused.every((c) => c === 'email_already_signed_up' || c === 'sign_up_in_progress'),
    ).toBe(true);
    const settled = await signUp.signUp(bob, {});
    expect(settled).toMatchObject({ id: done[0]?.id, created: false });
  });

  it('resumes the same organization after a crash between the customer and its membership', async () => {
    const cara = session('user-cara', 'cara@example.com');
    const crashing = signUpWith({
      afterCreate: () => {
        throw new Error('the function was killed here');
      },
    });
    await expect(crashing.signUp(cara, {})).rejects.toThrow('killed');
    const [made] = await allCustomers();

    // While the crashed run's lease lasts, a retry is told to wait, not given a second org.
    const early = signUpWith().signUp(cara, {});
    await expect(early).rejects.toMatchObject({ status: 409, code: 'sign_up_in_progress' });
    clock += SIGN_UP_LEASE_MS + 1;
    const resumed = await signUpWith().signUp(cara, {});

    expect(resumed.id).toBe(made?.customerId);
    expect(await allCustomers()).toHaveLength(1);
    expect(await memberships.get('user-cara', resumed.id)).toMatchObject({ role: 'owner' });
  });

  it('resumes under the same id after API Gateway failed mid-create, leaving no stray key', async () => {
    const dan = session('user-dan', 'dan@example.com');
    let failOnce = true;
    const flaky = {
      send: (command: { constructor: { name: string } }) => {
        if (failOnce && command.constructor.name === 'CreateUsagePlanKeyCommand') {
          failOnce = false;
          return Promise.reject(Object.assign(new Error('throttled'), { name: 'TooManyRequests' }));
        }
        return emulator.asClient().send(command as never);
      },
    } as Pick<APIGatewayClient, 'send'>;
    const signUp = signUpWith({ apiGateway: flaky });

    await expect(signUp.signUp(dan, {})).rejects.toThrow('throttled');
    const claim = await claims.get('dan@example.com');
    clock += SIGN_UP_LEASE_MS + 1;
    const done = await signUp.signUp(dan, {});

    expect(done).toMatchObject({ id: claim?.customerId, created: true });
    expect(done.first_key?.value).toMatch(/^tl_/);
    const plans = await emulator.plansByKeyValue();
    const customer = await customers.getCustomer(done.id);
    const primary = await customers.getKey(customer?.keyHash ?? '');
    expect(plans.get(primary?.usageIdentifierKey ?? '')?.id).toBe('plan_free');
    const { items = [] } = await emulator
      .asClient()
      .send(new GetApiKeysCommand({ nameQuery: `tierline-test-${done.id}` }));
    expect(items).toHaveLength(1);
  });

  it('on a pooled Free tier, sends API Gateway nothing: the organization shares its pool key', async () => {
    const sent: string[] = [];
    const recording = {
      send: (command: object) => {
        sent.push(command.constructor.name);
        return emulator.asClient().send(command as never);
      },
    } as Pick<APIGatewayClient, 'send'>;
    const signUp = signUpWith({
      apiGateway: recording,
      pooledUsageIdentifier: (tier, customerId) =>
        pooledUsageIdentifier(loadConfig({ env: 'dev' }), tier, customerId),
    });

    const done = await signUp.signUp(session('user-pia', 'pia@example.com'), {});

    expect(sent).toEqual([]);
    const customer = await customers.getCustomer(done.id);
    const primary = await customers.getKey(customer?.keyHash ?? '');
    expect(primary?.usageIdentifierKey).toMatch(/^TierlineEdgePooldevFree\d{2}$/);
    expect(customer).toMatchObject({
      status: 'active',
      sharedUsageKey: primary?.usageIdentifierKey,
    });
    expect(customer?.apiGatewayKeyId).toBeUndefined();
  });

  it('refuses unverified and disposable addresses, and an address an operator customer holds', async () => {
    const signUp = signUpWith({ disposableDomains: ['mailinator.com'] });
    await customers.claimEmail('taken@example.com', 'cus_operator');
    await customers.putCustomer({
      customerId: 'cus_operator',
      name: 'Operator-made',
      email: 'taken@example.com',
      tier: 'developer',
      status: 'active',
      createdAt: new Date(clock).toISOString(),
      updatedAt: new Date(clock).toISOString(),
    });

    const unverified = signUp.signUp(session('u1', 'eve@example.com', false), {});
    const disposable = signUp.signUp(session('u2', 'eve@x.mailinator.com'), {});
    const taken = signUp.signUp(session('u3', 'taken@example.com'), {});
    const badName = signUp.signUp(session('u4', 'ok@example.com'), { name: '  ' });

    await expect(unverified).rejects.toMatchObject({ status: 403, code: 'email_not_verified' });
    await expect(disposable).rejects.toMatchObject({ status: 400, code: 'disposable_email' });
    await expect(taken).rejects.toMatchObject({ status: 409, code: 'email_in_use' });
    await expect(badName).rejects.toMatchObject({ status: 400, param: 'name' });
    expect((await allCustomers()).map((c) => c.customerId)).toEqual(['cus_operator']);
    // The refused address is free again for whoever the operator invites.
    expect(await claims.get('taken@example.com')).toBeUndefined();
  });

  it('rate-limits one address per hour, concurrent attempts included, and lets it in the next hour', async () => {
    const signUp = signUpWith({ attemptsPerHour: 3 });
    const fay = session('user-fay', 'fay@example.com');

    const statuses = await Promise.all(
      Array.from({ length: 6 }, () => statusOf(signUp.signUp(fay, {}))),
    );
    const limited = signUp.signUp(fay, {});

    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    await expect(limited).rejects.toMatchObject({ status: 429, code: 'sign_up_rate_limited' });
    await limited.catch((error: HttpError) =>
      expect(Number(error.headers['retry-after'])).toBeGreaterThan(0),
    );
    clock += 3_600_000 + SIGN_UP_LEASE_MS;
    expect(await signUp.signUp(fay, {})).toMatchObject({ tier: 'free' });
    expect(await allCustomers()).toHaveLength(1);
  });

  it('normalizes an address to its mailbox and matches disposable domains and their subdomains', () => {
    expect(normalizeEmail('  Ann.Lee+Work@Example.COM ')).toBe('ann.lee@example.com');
    expect(normalizeEmail('A.nn.Lee+x@GoogleMail.com')).toBe('annlee@gmail.com');
    expect(normalizeEmail('ann.lee@gmail.com.evil.test')).toBe('ann.lee@gmail.com.evil.test');
    expect(isDisposable('x@mailinator.com', ['mailinator.com'])).toBe(true);
    expect(isDisposable('x@eu.mailinator.com', ['mailinator.com'])).toBe(true);
    expect(isDisposable('x@notmailinator.com', ['mailinator.com'])).toBe(false);
  });
});
