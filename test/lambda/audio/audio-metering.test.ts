import type { Principal } from '../../../lambda/customers/authenticate';
import { MAX_REQUEST_MS, RECONCILE_MARGIN_MS } from '../../../lambda/metering/reservations';
import { loadConfig } from '../../../lib/config/load';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { meteringOn } from '../../support/metering';

/**
 * Speech-to-text on the metering parts chat uses, on dynalite: a transcription whose process died
 * after admission is billed by the reconciler for the file's seconds at the hourly price, and
 * `/v1/usage` (the aggregates) shows them as audio seconds, not tokens.
 */

const config = loadConfig({ env: 'dev' });
const TURBO = 'whisper-large-v3-turbo';
const T0 = Date.parse('2026-12-07T09:37:10.000Z');
const clock = { now: T0 };

let dynamo: LocalDynamo;
let parts: Awaited<ReturnType<typeof meteringOn>>;
beforeAll(async () => {
  dynamo = await startDynalite();
  parts = await meteringOn(dynamo, config, () => new Date(clock.now));
});
afterAll(() => dynamo.stop());

const developer: Principal = {
  kind: 'project_key',
  projectId: 'proj_audio_1',
  customerId: 'cus_audio_1',
  tier: 'developer',
  usageIdentifierKey: 'key_audio_1',
};

it('bills a finished transcription and a crashed one by their seconds, shown as audio seconds', async () => {
  const finished = await parts.metering.admit({
    requestId: 'req_audio_done',
    principal: developer,
    model: TURBO,
    inputTokens: 3_600,
    outputTokens: { fixed: 0 },
  });
  expect(finished.headers['x-ratelimit-remaining-audio-seconds']).toBe(String(400_000 - 3_600));
  await finished.finish({ status: 'completed', inputTokens: 3_600, outputTokens: 0 });

  // Admitted, then the process died: nothing but the reservation record is left.
  await parts.metering.admit({
    requestId: 'req_audio_crashed',
    principal: developer,
    model: TURBO,
    inputTokens: 10,
    outputTokens: { fixed: 0 },
  });
  clock.now = T0 + MAX_REQUEST_MS + RECONCILE_MARGIN_MS + 1_000;
  expect(await parts.reconciler.run()).toMatchObject({ billed: 1 });

  const usage = await parts.usage.queryUsage(
    developer.customerId,
    '2026-12-07',
    '2026-12-07',
    'model',
  );
  expect(usage.data).toEqual([
    expect.objectContaining({
      model: TURBO,
      requests: 2,
      input_tokens: 0,
      output_tokens: 0,
      audio_seconds: 3_610,
      // An hour at $0.04 (40,000 µ$) and 10 s (111.1 µ$, rounded up).
      cost_usd: '0.040112',
    }),
  ]);
  // The month's spend holds what the ledger billed, nothing still reserved.
  const spend = await parts.spend.getMonth(developer.customerId);
  expect(spend.spentMicroUsd).toBe(40_112);
  expect(spend.reservedMicroUsd).toBe(0);
});
