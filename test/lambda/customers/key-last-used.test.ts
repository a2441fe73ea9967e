import { createHash } from 'node:crypto';
import { issueApiKey } from '../../../lambda/customers/api-keys';
import {
  authenticate,
  isKeyUseStale,
  KEY_USE_RESOLUTION_MS,
} from '../../../lambda/customers/authenticate';
import { CustomerKeys } from '../../../lambda/customers/customer-keys';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/** A key's "last used", against dynalite: written at most once an hour per key, never in a request's way. */
describe('key last use', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  const issued = issueApiKey();
  const header = `Bearer ${issued.key}`;
  const at = (iso: string) => new Date(iso);

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.stop());

  beforeEach(async () => {
    ({ repository } = await newCustomersTable(dynamo));
    const created = '2026-11-01T00:00:00.000Z';
    await repository.putCustomer({
      customerId: 'cus_1',
      name: 'One',
      email: 'one@use.test',
      tier: 'developer',
      status: 'active',
      keyHash: issued.hash,
      keyHint: issued.hint,
      createdAt: created,
      updatedAt: created,
    });
    await repository.putKey({
      keyHash: issued.hash,
      customerId: 'cus_1',
      tier: 'developer',
      usageIdentifierKey: 'edge-1',
      status: 'active',
      createdAt: created,
    });
  });

  it('writes lastUsedAt when absent or an hour old, and not again within the hour', async () => {
    await repository.recordKeyUse(
      issued.hash,
      at('2026-12-01T10:00:00.000Z'),
      KEY_USE_RESOLUTION_MS,
    );
    expect((await repository.getKey(issued.hash))?.lastUsedAt).toBe('2026-12-01T10:00:00.000Z');
    // 59 min 59.999 s later: the condition fails quietly, the first time stays.
    await repository.recordKeyUse(
      issued.hash,
      at('2026-12-01T10:59:59.999Z'),
      KEY_USE_RESOLUTION_MS,
    );
    expect((await repository.getKey(issued.hash))?.lastUsedAt).toBe('2026-12-01T10:00:00.000Z');
    // Exactly an hour later it is written again.
    await repository.recordKeyUse(
      issued.hash,
      at('2026-12-01T11:00:00.000Z'),
      KEY_USE_RESOLUTION_MS,
    );
    expect((await repository.getKey(issued.hash))?.lastUsedAt).toBe('2026-12-01T11:00:00.000Z');
  });

  it('never creates a key item for a hash that has none', async () => {
    const unknown = createHash('sha256').update('nobody').digest('hex');
    await repository.recordKeyUse(unknown, at('2026-12-01T10:00:00.000Z'), KEY_USE_RESOLUTION_MS);
    expect(await repository.getKey(unknown)).toBeUndefined();
  });

  it('of 20 concurrent requests in the same hour, one write wins and none fails', async () => {
    const times = Array.from({ length: 20 }, (_, i) =>
      at(`2026-12-01T10:00:${String(i).padStart(2, '0')}.000Z`),
    );
    const written = await Promise.all(
      times.map((t) => repository.recordKeyUse(issued.hash, t, KEY_USE_RESOLUTION_MS)),
    );
    expect(written.filter(Boolean)).toHaveLength(1);
    const stored = (await repository.getKey(issued.hash))?.lastUsedAt;
    expect(times.map((t) => t.toISOString())).toContain(stored);
  });

  it('authenticates without waiting for the write, skips it while the stored time is fresh, and survives its failure', async () => {
    const writes: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const record = async (hash: string, now: Date) => {
      writes.push(now.toISOString());
      await gate; // a write that has not finished
      await repository.recordKeyUse(hash, now, KEY_USE_RESOLUTION_MS);
    };
    const lookup = (hash: string) => repository.getKey(hash);
    const principal = await authenticate(header, lookup, {
      record,
      now: () => at('2026-12-01T10:00:00.000Z'),
    });
    // The request was let in while the write still waits.
    expect(principal.customerId).toBe('cus_1');
    expect(writes).toEqual(['2026-12-01T10:00:00.000Z']);
    release();
    await until(
      async () => (await repository.getKey(issued.hash))?.lastUsedAt === '2026-12-01T10:00:00.000Z',
    );

    // Fresh in the item just read: no write is attempted at all (no DynamoDB write per request).
    await authenticate(header, lookup, { record, now: () => at('2026-12-01T10:30:00.000Z') });
    expect(writes).toHaveLength(1);

    // A failing write (throttled table, network) neither fails nor delays the request; it is
    // reported.
    const errors: unknown[] = [];
    const failing = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    await expect(
      authenticate(header, lookup, {
        record: failing,
        now: () => at('2026-12-01T12:00:00.000Z'),
        onError: (e) => errors.push(e),
      }),
    ).resolves.toMatchObject({ customerId: 'cus_1' });
    await until(async () => errors.length === 1);
  });

  it('is listed as last_used_at on /v1/keys', async () => {
    const keys = new CustomerKeys(repository);
    const principal = {
      kind: 'session' as const,
      // The default project: one that is never archived (another must be stored and active).
      projectId: defaultProjectId('cus_1'),
      customerId: 'cus_1',
      tier: 'developer' as const,
      usageIdentifierKey: 'edge-1',
    };
    const named = await keys.create(principal, 'ci');
    expect(named.last_used_at).toBeNull();
    await repository.recordKeyUse(
      issued.hash,
      at('2026-12-01T10:00:00.000Z'),
      KEY_USE_RESOLUTION_MS,
    );
    const listed = await keys.list(principal);
    expect(listed.find((k) => k.primary)?.last_used_at).toBe(
      Date.parse('2026-12-01T10:00:00.000Z') / 1000,
    );
    expect(listed.find((k) => k.id === named.id)?.last_used_at).toBeNull();
  });

  it('counts a time an hour old or unreadable as stale', () => {
    const now = at('2026-12-01T11:00:00.000Z');
    expect(isKeyUseStale(undefined, now)).toBe(true);
    expect(isKeyUseStale('2026-12-01T10:00:00.000Z', now)).toBe(true);
    expect(isKeyUseStale('2026-12-01T10:00:00.001Z', now)).toBe(false);
    expect(isKeyUseStale('garbage', now)).toBe(true);
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
