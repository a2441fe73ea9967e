import type { Principal } from '../../../lambda/customers/authenticate';
import { projectScope } from '../../../lambda/customers/project-limits';
import { costMicroUsd, pricesOf } from '../../../lambda/metering/pricing';
import type { MeteredRequest } from '../../../lambda/metering/request-metering';
import { HttpError } from '../../../lambda/openai/errors';
import { loadConfig } from '../../../lib/config/load';
import type { ModelLimits, TierModelOffer } from '../../../lib/config/schema';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { MID_MINUTE, meteringOn, twoProjectKeys } from '../../support/metering';

/**
 * A project's own rate limits, enforced by request metering against dynalite: concurrent requests
 * of two projects, one narrowed, both within the organization's limits.
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-14b';
const offer = config.tiers.developer.models[MODEL] as ModelLimits;

let dynamo: LocalDynamo;
let parts: Awaited<ReturnType<typeof meteringOn>>;
beforeAll(async () => {
  dynamo = await startDynalite();
  parts = await meteringOn(dynamo, config, () => MID_MINUTE);
});
afterAll(() => dynamo.stop());

let organizations = 0;
/** Two keys of one organization: project A narrowed to `projectRpm` (and 1,000 a day), B not. */
const organization = (orgRpm: number, projectRpm: number) =>
  twoProjectKeys(`cus_projlim_${++organizations}`, MODEL, offer, {
    organization: orgRpm,
    project: projectRpm,
  });

let requests = 0;
async function attempt(who: Principal): Promise<MeteredRequest | HttpError> {
  requests += 1;
  try {
    return await parts.metering.admit({
      requestId: `req_projlim_${requests}`,
      principal: who,
      model: MODEL,
      inputTokens: 10,
      outputTokens: { fixed: 5 },
    });
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
}
const admitted = (results: (MeteredRequest | HttpError)[]) =>
  results.filter((r): r is MeteredRequest => !(r instanceof HttpError));
const refused = (results: (MeteredRequest | HttpError)[]) =>
  results.filter((r): r is HttpError => r instanceof HttpError);

describe('a project narrowed below its organization', () => {
  it('admits exactly its own limit of concurrent requests, and the other project is not held by it', async () => {
    const { a, b } = organization(40, 3);
    const [ofA, ofB] = await Promise.all([
      Promise.all(Array.from({ length: 12 }, () => attempt(a))),
      Promise.all(Array.from({ length: 12 }, () => attempt(b))),
    ]);
    expect(admitted(ofA)).toHaveLength(3);
    expect(admitted(ofB)).toHaveLength(12);
    const refusal = refused(ofA)[0];
    expect(refusal).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect(refusal?.message).toMatch(/Limit 3, .*project `proj_a`/);
    // A's admitted requests show the project's limits in their headers (requests: per day).
    expect(admitted(ofA)[0]?.headers['x-ratelimit-limit-requests']).toBe('1000');
  });

  it('never lets the projects together past the organization, under concurrency', async () => {
    const { a, b } = organization(5, 4);
    const all = await Promise.all(
      Array.from({ length: 20 }, (_, i) => attempt(i % 2 === 0 ? a : b)),
    );
    expect(admitted(all)).toHaveLength(5);
    const ofA = all.filter((_, i) => i % 2 === 0);
    expect(admitted(ofA).length).toBeLessThanOrEqual(4);
  });

  it("gives back the organization's hold when the project refuses", async () => {
    const { a, b } = organization(2, 1);
    expect(admitted([await attempt(a)])).toHaveLength(1);
    // Refused by the project: the organization's counter must not keep this request.
    expect(refused([await attempt(a)])).toHaveLength(1);
    expect(admitted([await attempt(b)])).toHaveLength(1);
    expect(refused([await attempt(b)])[0]?.message).toMatch(/Limit 2/);
  });

  it('frees the project hold of a request released before the model', async () => {
    const { a } = organization(40, 1);
    const first = await attempt(a);
    if (first instanceof HttpError) throw first;
    await first.release();
    expect(admitted([await attempt(a)])).toHaveLength(1);
  });
});

describe('project spend limits within the organization', () => {
  const PRICES = pricesOf(config.tiers.developer.models[MODEL] as TierModelOffer);
  /** What one request of 1,000 tokens in and at most 1,000 out may cost: what it reserves. */
  const MAX_COST = costMicroUsd({ inputTokens: 1_000, outputTokens: 1_000 }, PRICES);
  const month = MID_MINUTE.toISOString().slice(0, 7);
  let spenders = 0;
  const spendOrganization = (orgLimit: number, projectLimit: number) => {
    spenders += 1;
    const base = {
      kind: 'project_key' as const,
      customerId: `cus_projspend_${spenders}`,
      tier: 'developer' as const,
      usageIdentifierKey: 'k',
      spendLimitMicroUsd: orgLimit,
    };
    return {
      a: { ...base, projectId: 'proj_a', projectSpendLimitMicroUsd: projectLimit },
      b: { ...base, projectId: 'proj_b', projectSpendLimitMicroUsd: projectLimit },
    };
  };
  const spend = async (who: Principal) => {
    requests += 1;
    try {
      return await parts.metering.admit({
        requestId: `req_projspend_${requests}`,
        principal: who,
        model: MODEL,
        inputTokens: 1_000,
        outputTokens: { fixed: 1_000 },
      });
    } catch (error) {
      if (error instanceof HttpError) return error;
      throw error;
    }
  };

  it('never lets two projects together spend past the organization, under concurrency', async () => {
    // Each project may hold 3 requests' worst cost, the organization 5.
    const { a, b } = spendOrganization(5 * MAX_COST, 3 * MAX_COST);
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => spend(i % 2 ? b : a)));
    const ofA = admitted(all.filter((_, i) => i % 2 === 0));
    const ofB = admitted(all.filter((_, i) => i % 2 === 1));
    expect(ofA.length + ofB.length).toBe(5);
    expect(ofA.length).toBeLessThanOrEqual(3);
    expect(ofB.length).toBeLessThanOrEqual(3);
    const quota = refused(all).map((r) => r.type);
    expect(new Set(quota)).toEqual(new Set(['insufficient_quota']));
    // Billed at their worst cost: the months hold exactly what was admitted, within each limit.
    await Promise.all(
      [...ofA, ...ofB].map((r) =>
        r.finish({ status: 'completed', inputTokens: 1_000, outputTokens: 1_000 }),
      ),
    );
    const organization = await parts.spend.getMonthOf(a.customerId, month);
    const projectA = await parts.spend.getMonthOf(projectScope(a.customerId, 'proj_a'), month);
    const projectB = await parts.spend.getMonthOf(projectScope(a.customerId, 'proj_b'), month);
    expect(organization).toMatchObject({ spentMicroUsd: 5 * MAX_COST, reservedMicroUsd: 0 });
    expect(projectA).toMatchObject({ spentMicroUsd: ofA.length * MAX_COST, reservedMicroUsd: 0 });
    expect(projectB).toMatchObject({ spentMicroUsd: ofB.length * MAX_COST, reservedMicroUsd: 0 });
  });

  it('tracks the month of a project with spend alerts and no limit, and never refuses it', async () => {
    spenders += 1;
    const who: Principal = {
      kind: 'project_key',
      customerId: `cus_projspend_${spenders}`,
      tier: 'developer',
      usageIdentifierKey: 'k',
      projectId: 'proj_alerts',
      projectSpendAlerts: true,
    };
    const all = await Promise.all(Array.from({ length: 4 }, () => spend(who)));
    expect(admitted(all)).toHaveLength(4);
    await Promise.all(
      admitted(all).map((r) =>
        r.finish({ status: 'completed', inputTokens: 1_000, outputTokens: 1_000 }),
      ),
    );
    const project = await parts.spend.getMonthOf(
      projectScope(who.customerId, 'proj_alerts'),
      month,
    );
    expect(project).toEqual({
      month,
      spentMicroUsd: 4 * MAX_COST,
      reservedMicroUsd: 0,
      limitMicroUsd: undefined,
    });
  });

  it("refuses past the project's own limit, naming the project, and frees what it held", async () => {
    const { a, b } = spendOrganization(10 * MAX_COST, MAX_COST);
    const first = await spend(a);
    const second = await spend(a);
    expect(second).toMatchObject({ status: 429, type: 'insufficient_quota' });
    expect((second as HttpError).message).toMatch(
      /Project `proj_a` reached its monthly spend limit/,
    );
    // The organization's month does not keep the refused request's hold.
    const organization = await parts.spend.getMonthOf(a.customerId, month);
    expect(organization.reservedMicroUsd).toBe(MAX_COST);
    if (first instanceof HttpError) throw first;
    await first.release();
    expect(admitted([await spend(a), await spend(b)])).toHaveLength(2);
  });
});
