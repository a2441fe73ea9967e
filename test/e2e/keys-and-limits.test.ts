import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { clearOfMinuteBoundary } from '../support/windows';

/** `/v1/keys` and `/v1/limits` over real HTTP in local mode, with the openai client using the keys. */
const MODEL = 'qwen3-8b';
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: { free: { models: { [MODEL]: { rpm: 5, rpd: 50, tpm: 4_000, tpd: 40_000 } } } },
  },
});

describe('named API keys and current limits', () => {
  let local: LocalMode;
  const api = async (key: string, path: string, init: RequestInit = {}) => {
    const response = await fetch(`${local.openAIBaseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    });
    // biome-ignore lint/suspicious/noExplicitAny: the tests read several response shapes field by field.
    const json: any = await response.json();
    return { status: response.status, headers: response.headers, json };
  };
  const newCustomer = async (name: string, tier: 'free' | 'developer' = 'free') => {
    const { customer, apiKey } = await local.operator.createCustomer({
      name,
      email: `${name}@keys.test`,
      tier,
    });
    // Keys are managed with an admin key: an inference key gets 403 there.
    const { key: adminKey } = await local.operator.createAdminKey(customer.customerId, 'tests');
    return { customerId: customer.customerId, apiKey: apiKey as string, adminKey };
  };

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 8, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
    });
  });
  afterAll(() => local.stop());

  it('creates a named key that works with the customer limits, lists it, and revokes it (then 401)', async () => {
    const alice = await newCustomer('alice');

    const created = await api(alice.adminKey, '/keys', {
      method: 'POST',
      body: JSON.stringify({ name: ' ci runner ' }),
    });
    expect(created.status).toBe(200);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.json).toMatchObject({
      object: 'api_key',
      name: 'ci runner',
      status: 'active',
      primary: false,
    });
    expect(created.json.key).toMatch(/^tl_[0-9A-Za-z]{49}$/);
    expect(created.json.hint).toBe(`${created.json.key.slice(0, 7)}…${created.json.key.slice(-4)}`);

    // The new key is the same customer: its request counts against the same per-model limits
    // (read below in the same UTC minute).
    await clearOfMinuteBoundary(10_000);
    const openai = new OpenAI({
      apiKey: created.json.key,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
    await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi there' }],
    });
    const limits = await api(alice.apiKey, '/limits');
    const row = limits.json.data.find((m: { model: string }) => m.model === MODEL);
    expect(row.requests_per_minute).toEqual({ limit: 5, used: 1, remaining: 4 });
    expect(row.requests_per_day).toEqual({ limit: 50, used: 1, remaining: 49 });

    const listed = await api(alice.adminKey, '/keys');
    expect(
      listed.json.data.map((k: { name: string; primary: boolean }) => [k.name, k.primary]),
    ).toEqual([
      ['Primary key', true],
      ['ci runner', false],
    ]);
    expect(JSON.stringify(listed.json)).not.toContain(created.json.key);

    const revoked = await api(alice.adminKey, `/keys/${created.json.id}`, { method: 'DELETE' });
    expect(revoked.json).toMatchObject({ id: created.json.id, status: 'revoked' });
    expect(typeof revoked.json.revoked_at).toBe('number');
    await expect(openai.models.list()).rejects.toMatchObject({ status: 401 });
    // Revoking again answers the same revoked key.
    expect(
      (await api(alice.adminKey, `/keys/${created.json.id}`, { method: 'DELETE' })).json.status,
    ).toBe('revoked');
  });

  it("never lets a customer see or revoke another customer's key", async () => {
    const owner = await newCustomer('owner');
    const other = await newCustomer('other');
    const created = await api(owner.adminKey, '/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'mine' }),
    });

    const attempt = await api(other.adminKey, `/keys/${created.json.id}`, { method: 'DELETE' });
    expect(attempt.status).toBe(404);
    expect(attempt.json.error).toMatchObject({
      code: 'key_not_found',
      type: 'invalid_request_error',
    });
    const list = await api(other.adminKey, '/keys');
    expect(list.json.data.map((k: { id: string }) => k.id)).not.toContain(created.json.id);
    const ownerList = await api(owner.adminKey, '/keys');
    expect(ownerList.json.data.find((k: { id: string }) => k.id === created.json.id).status).toBe(
      'active',
    );
  });

  it('answers bad key requests with 400s in the OpenAI error shape', async () => {
    const bob = await newCustomer('bob');
    const noName = await api(bob.adminKey, '/keys', { method: 'POST', body: JSON.stringify({}) });
    expect(noName.status).toBe(400);
    expect(noName.json.error).toMatchObject({ type: 'invalid_request_error', param: 'name' });
    const long = await api(bob.adminKey, '/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'x'.repeat(65) }),
    });
    expect(long.json.error).toMatchObject({ param: 'name', code: 'invalid_value' });
    const notJson = await api(bob.adminKey, '/keys', { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
    const primary = await api(bob.adminKey, '/keys/key_primary', { method: 'DELETE' });
    expect(primary.status).toBe(400);
    expect(primary.json.error.code).toBe('primary_key_not_revocable');
  });

  it('moves named keys with the customer: a tier change and a revocation reach them', async () => {
    const carol = await newCustomer('carol');
    const created = await api(carol.adminKey, '/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'app' }),
    });

    await local.operator.setTier(carol.customerId, 'developer');
    expect((await api(created.json.key, '/limits')).json.tier).toBe('developer');
    const spend = await api(carol.adminKey, '/spend_limit', {
      method: 'PUT',
      body: JSON.stringify({ monthly_limit_usd: 5 }),
    });
    expect(spend.json.monthly_limit_usd).toBe(5);

    await local.operator.revoke(carol.customerId);
    expect((await api(created.json.key, '/limits')).status).toBe(401);
    // The admin key goes with the customer too.
    expect((await api(carol.adminKey, '/keys')).status).toBe(401);
  });

  it('reports the current minute and day with their resets', async () => {
    const dave = await newCustomer('dave');
    const limits = await api(dave.apiKey, '/limits');
    expect(limits.status).toBe(200);
    expect(limits.json).toMatchObject({ object: 'limits', tier: 'free' });
    expect(limits.json.minute).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d$/);
    expect(limits.json.reset_minute_seconds).toBeGreaterThan(0);
    expect(limits.json.reset_minute_seconds).toBeLessThanOrEqual(60);
    expect(limits.json.data.map((m: { model: string }) => m.model)).toEqual(
      Object.keys(config.tiers.free.models),
    );
    expect(limits.json.data[0].tokens_per_day.used).toBe(0);
  });
});
