import type { Principal } from '../../../lambda/customers/authenticate';
import type { MeteredRequest } from '../../../lambda/metering/request-metering';
import { HttpError } from '../../../lambda/openai/errors';
import { loadConfig } from '../../../lib/config/load';
import type { ModelLimits } from '../../../lib/config/schema';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { meteringOn } from '../../support/metering';

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
  parts = await meteringOn(dynamo, config);
});
afterAll(() => dynamo.stop());

let organizations = 0;
/** Two keys of one organization: project A narrowed to `projectRpm` (and 1,000 a day), B not. */
function organization(orgRpm: number, projectRpm: number): { a: Principal; b: Principal } {
  organizations += 1;
  const base = {
    kind: 'project_key' as const,
    customerId: `cus_projlim_${organizations}`,
    tier: 'developer' as const,
    usageIdentifierKey: 'k',
    // The organization's own limit (an operator's custom plan), small enough to reach.
    customModelLimits: { [MODEL]: { ...offer, rpm: orgRpm } },
  };
  return {
    a: {
      ...base,
      projectId: 'proj_a',
      keyId: 'key_a',
      projectModelLimits: { [MODEL]: { rpm: projectRpm, rpd: 1_000 } },
    },
    b: { ...base, projectId: 'proj_b', keyId: 'key_b' },
  };
}

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
