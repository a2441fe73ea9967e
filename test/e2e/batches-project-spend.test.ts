import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { lineRequestId } from '../../lambda/batches/batch-worker';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_METERING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { until } from '../support/until';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * A project's monthly spend limit holds for its batches, end to end: the official `openai` client
 * sets the limit (`admin.organization.projects.spendLimit`) and sends batches through a key of the
 * project against local mode and its in-process worker.
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';

const line = (customId: string, maxCompletionTokens: number) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: MODEL,
      messages: [{ role: 'user', content: `hello ${customId}` }],
      max_completion_tokens: maxCompletionTokens,
    },
  });

describe("batches held to their project's spend limit (official client, local mode)", () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let clients: LocalClients;

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      console: false,
    });
    clients = localClients(local, spec.fetch);
  }, 60_000);
  afterAll(() => local.stop());

  const runBatch = async (openai: OpenAI, lines: string[], done: string[]) => {
    const input = await openai.files.create({
      file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'batch.jsonl'),
      purpose: 'batch',
    });
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    return until(
      () => openai.batches.retrieve(created.id),
      (b) => done.includes(b.status),
    );
  };

  it("refuses a batch that may pass the project's limit, runs one within it, and bills the project what ran", async () => {
    const { customerId, admin, primary } = await clients.newOrganization(
      'owner',
      'batch-project-spend.test',
    );
    const project = (await admin.admin.organization.projects.create({ name: 'Nightly' })).id;
    const projectKey = await clients.projectKey(admin, project, 'batcher');
    // One cent. 50 lines of up to 8,000 output tokens may cost 400,000 x $0.04 per 1M = 1.6 cents.
    await admin.admin.organization.projects.spendLimit.update(project, {
      threshold_amount: 1,
      currency: 'USD',
      interval: 'month',
    });
    const large = Array.from({ length: 50 }, (_, i) => line(`big-${i}`, 8_000));

    const refused = await runBatch(projectKey, large, ['failed', 'completed']);
    expect(refused.status).toBe('failed');
    expect(refused.errors?.data?.[0]).toMatchObject({ code: 'spend_limit_exceeded' });
    expect(refused.errors?.data?.[0]?.message).toContain(`project \`${project}\``);
    // The organization has no limit: the same batch of its default project runs.
    const unheld = await runBatch(primary, large, ['failed', 'completed']);
    expect(unheld.status).toBe('completed');

    const small = Array.from({ length: 10 }, (_, i) => line(`small-${i}`, 20));
    // The ten lines in one UTC month (it ends on a minute's end): one month's spend bills them.
    await clearOfMinuteBoundary(15_000);
    const within = await runBatch(projectKey, small, ['failed', 'completed']);
    expect(within.status).toBe('completed');
    expect(within.request_counts).toEqual({ total: 10, completed: 10, failed: 0 });

    const doc = localModeDocumentClient(local.dynamoEndpoint);
    try {
      const read = (pk: string, sk: string) =>
        doc.send(
          new GetCommand({
            TableName: LOCAL_METERING_TABLE,
            Key: { pk, sk },
            ConsistentRead: true,
          }),
        );
      // Each line's ledger record is the bill: the project's month committed exactly their sum.
      let billed = 0;
      const months = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const { Item } = await read(`REQ#${lineRequestId(within.id, `small-${i}`)}`, 'REQ');
        billed += (Item?.costMicroUsd as number | undefined) ?? Number.NaN;
        months.add(String(Item?.startedAt).slice(0, 7));
      }
      expect(billed).toBeGreaterThan(0);
      // The month the lines were admitted in (the spend's), not the month this check runs in.
      expect(months.size).toBe(1);
      const [month] = months;
      const { Item } = await read(`SPEND#${customerId}@${project}#${month}`, 'SPEND');
      expect(Item).toMatchObject({
        reservedMicroUsd: 0,
        committedMicroUsd: billed,
        limitMicroUsd: 10_000,
      });
    } finally {
      doc.destroy();
    }
  }, 60_000);
});
