import OpenAI, { toFile } from 'openai';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { adminKeys } from '../support/admin-keys';
import { localClients } from '../support/local-clients';
import { expectMatchesSpec, expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Fine-tuning jobs in local mode (`npm start`), with the official client and the real authorizer:
 * jobs are created, listed, read and cancelled with their events; local mode has no trainer, so a
 * job fails at once saying that fine-tuning needs SageMaker, and its spend hold is given back.
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';
const conversation = (i: number) =>
  JSON.stringify({
    messages: [
      { role: 'user', content: `Say ${i}.` },
      { role: 'assistant', content: `${i}.` },
    ],
  });

describe('fine-tuning jobs in local mode', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  const clients: Record<string, OpenAI> = {};
  const customers: Record<string, string> = {};

  beforeAll(async () => {
    local = await startLocalMode({ config, port: 0, console: false });
    const demoClients = localClients(local, spec.fetch);
    for (const demo of local.demoCustomers) {
      clients[demo.tier] = demoClients.openai(demo.apiKey);
      customers[demo.tier] = demo.customerId;
    }
  });
  afterAll(() => local.stop());

  const upload = async (tier: string) =>
    (clients[tier] as OpenAI).files.create({
      file: await toFile(
        Buffer.from(`${Array.from({ length: 10 }, (_, i) => conversation(i)).join('\n')}\n`),
        't.jsonl',
      ),
      purpose: 'fine-tune',
    });

  it('creates a job that fails at once saying fine-tuning needs SageMaker, lists it with its events, and holds no spend', async () => {
    const openai = clients.developer as OpenAI;
    const file = await upload('developer');
    const job = await openai.fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
      suffix: 'local',
    });
    expectMatchesSpec('FineTuningJob', job);
    expect(job).toMatchObject({
      status: 'failed',
      fine_tuned_model: null,
      error: { code: 'trainer_not_configured', param: null },
    });
    expect(job.error?.message).toMatch(
      /^Fine-tuning needs SageMaker training: this local mode has no trainer configured/,
    );
    expect(job.finished_at).toEqual(expect.any(Number));

    expect((await openai.fineTuning.jobs.list()).data.map((j) => j.id)).toContain(job.id);
    expect((await openai.fineTuning.jobs.retrieve(job.id)).status).toBe('failed');
    const events = await openai.fineTuning.jobs.listEvents(job.id);
    expect(events.data[0]).toMatchObject({ level: 'error', message: job.error?.message });
    expect(events.data.map((e) => e.message)).toContain(`Created fine-tuning job ${job.id}`);
    // Its estimate was held at creation and given back when it failed.
    const spend = (await (
      await spec.fetch(`${local.openAIBaseUrl}/spend_limit`, {
        headers: {
          authorization: `Bearer ${await adminKeys(() => local)(
            local.demoCustomers.find((d) => d.tier === 'developer')?.customerId ?? '',
          )}`,
        },
      })
    ).json()) as { reserved_usd: string; spent_usd: string };
    expect(spend).toMatchObject({ reserved_usd: '0.000000', spent_usd: '0.000000' });

    const cancel = await openai.fineTuning.jobs.cancel(job.id).catch((e: unknown) => e);
    expect(cancel).toBeInstanceOf(OpenAI.BadRequestError);
    expect(cancel).toMatchObject({ code: 'invalid_state' });
    // Nobody else sees it.
    const other = await (clients.enterprise as OpenAI).fineTuning.jobs
      .retrieve(job.id)
      .catch((e: unknown) => e);
    expect(other).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('answers the Free tier 403 naming the tiers that have fine-tuning', async () => {
    const file = await upload('free');
    const error = await (clients.free as OpenAI).fineTuning.jobs
      .create({ model: MODEL, training_file: file.id })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((error as Error).message).toContain('it is on Developer and Enterprise');
  });
});
