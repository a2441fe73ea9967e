import type { Principal } from '../../../lambda/customers/authenticate';
import { HttpError } from '../../../lambda/openai/errors';
import { loadConfig } from '../../../lib/config/load';
import type { ModelLimits } from '../../../lib/config/schema';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { MID_MINUTE, meteringOn, twoProjectKeys } from '../../support/metering';

/**
 * A request that uses no model (`POST /responses/input_tokens`) counted against the model's
 * request limits on dynalite: exactly the limit admitted under concurrency, no tokens taken, the
 * project's own limit too.
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
const principals = (orgRpm: number, projectRpm: number) =>
  twoProjectKeys(`cus_count_${++organizations}`, MODEL, offer, {
    organization: orgRpm,
    project: projectRpm,
  });

const tryCount = (who: Principal) =>
  parts.metering.countRequest(who, MODEL).catch((error: unknown) => {
    if (error instanceof HttpError) return error;
    throw error;
  });

describe('counting a request without tokens', () => {
  it('admits exactly the RPM of concurrent counts and refuses the rest with a 429', async () => {
    const { b } = principals(5, 1);
    const results = await Promise.all(Array.from({ length: 15 }, () => tryCount(b)));

    const refused = results.filter((r): r is HttpError => r instanceof HttpError);
    expect(results.length - refused.length).toBe(5);
    expect(refused[0]).toMatchObject({
      status: 429,
      type: 'requests',
      code: 'rate_limit_exceeded',
    });
    expect(refused[0]?.headers?.['retry-after']).toMatch(/^\d+$/);
    expect(refused[0]?.headers?.['x-ratelimit-remaining-requests']).toBeDefined();
  });

  it('takes a request and no tokens: a chat request after it has the whole TPM', async () => {
    const { b } = principals(5, 1);
    const headers = await parts.metering.countRequest(b, MODEL);
    expect(headers['x-ratelimit-remaining-tokens']).toBe(String(offer.tpm));
    expect(headers['x-ratelimit-remaining-requests']).toBe(String(offer.rpd - 1));

    const peek = await parts.metering.headersFor(b, MODEL);
    expect(peek['x-ratelimit-remaining-tokens']).toBe(String(offer.tpm));
    expect(peek['x-ratelimit-remaining-requests']).toBe(String(offer.rpd - 1));
  });

  it("counts against the project's own limit, and gives the organization's count back when it refuses", async () => {
    const { a, b } = principals(2, 1);
    const first = await parts.metering.countRequest(a, MODEL);
    // The project's limits are the ones it meets first: its headers.
    expect(first['x-ratelimit-limit-requests']).toBe('1000');

    const second = await tryCount(a);
    expect(second).toBeInstanceOf(HttpError);
    expect((second as HttpError).message).toMatch(/project `proj_a`/);
    // The refused count was given back: the other project still has the organization's second.
    expect(await tryCount(b)).not.toBeInstanceOf(HttpError);
    expect((await tryCount(b)) as HttpError).toMatchObject({ status: 429 });
  });
});
