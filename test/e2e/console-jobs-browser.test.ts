import { mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import OpenAI, { toFile } from 'openai';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { BackendChatRequest } from '../../lambda/inference/backends/model-backend';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import {
  CHROMIUM,
  expectText,
  LAPTOP,
  PHONE,
  recordPageProblems,
  requireChromium,
  SCREENSHOTS,
} from '../support/console-browser';

// biome-ignore lint/suspicious/noExplicitAny: a browser global, seen only inside page.evaluate
declare const sessionStorage: any;

/**
 * The console's Batches and Fine-tuning pages in Debian's Chromium against local mode: a batch
 * created through the API (a JSONL file uploaded with purpose `batch`) is listed, its counts change
 * as local mode's worker runs it, its output is downloaded (fetched with the key in the header,
 * never in a URL), an active batch is cancelled; the Free tier sees which tiers have batches and
 * fine-tuning instead of an error.
 */
requireChromium();

const LINES = 12;

/**
 * The test model, able to hold every completion past the first `n` until released: the page is
 * seen with a batch part-way through however slowly it loads (a loaded machine ran a whole batch
 * before the page first showed it), not by a model slow enough to outlast it.
 */
class HoldingBackend extends TestModelBackend {
  private admitted = Number.POSITIVE_INFINITY;
  private release: () => void = () => undefined;
  private gate: Promise<void> = Promise.resolve();

  /** Holds the completions after the next `n`, until {@link let}. */
  holdAfter(n: number): void {
    this.admitted = n;
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  let(): void {
    this.admitted = Number.POSITIVE_INFINITY;
    this.release();
  }

  override async complete(request: BackendChatRequest) {
    this.admitted -= 1;
    if (this.admitted < 0) await this.gate;
    return super.complete(request);
  }
}

describe('the console Batches and Fine-tuning pages in Chromium', () => {
  let local: LocalMode;
  // About 2 s a line; lines are held where a test needs the batch still running.
  const backend = new HoldingBackend({
    timeToFirstTokenMs: 100,
    tokensPerSecond: 10,
    replyTokens: 20,
  });
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let developerKey: string;
  let freeKey: string;
  let openai: OpenAI;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend,
      batchConcurrency: 1,
    });
    developerKey = local.demoCustomers.find((d) => d.tier === 'developer')?.apiKey as string;
    freeKey = local.demoCustomers.find((d) => d.tier === 'free')?.apiKey as string;
    openai = new OpenAI({ apiKey: developerKey, baseURL: local.openAIBaseUrl, maxRetries: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM });
    context = await browser.newContext({ viewport: LAPTOP, acceptDownloads: true });
    page = await context.newPage();
    recordPageProblems(page, problems);
  });

  afterAll(async () => {
    backend.let();
    await browser?.close();
    await local?.stop();
  });

  const signIn = async (key: string, hash: string) => {
    await page.goto(`${local.consoleUrl}#/${hash}`);
    await page.evaluate((k) => sessionStorage.setItem('tierline.apiKey', k), key);
    await page.reload();
    await page.getByRole('heading', { level: 1 }).waitFor();
  };

  const createBatch = async (lines: number, maxTokens: number) => {
    const jsonl = Array.from({ length: lines }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'qwen3-8b',
          messages: [{ role: 'user', content: `hello ${i}` }],
          max_tokens: maxTokens,
        },
      }),
    ).join('\n');
    const file = await openai.files.create({
      file: await toFile(Buffer.from(`${jsonl}\n`), 'b.jsonl'),
      purpose: 'batch',
    });
    return openai.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
  };

  it('lists a batch created through the API, its counts changing as the worker runs it, and downloads its output', async () => {
    // A third of the lines run; the rest wait until the page has shown the batch part-way.
    backend.holdAfter(LINES / 3);
    const batch = await createBatch(LINES, 20);
    await signIn(developerKey, 'batches');
    const card = page.locator(`li[data-batch-id="${batch.id}"]`);
    await card.waitFor();
    await expectText(card, '/v1/chat/completions');

    // Read the counts as the page shows them (it polls while the batch runs) until it has
    // completed.
    const seen: string[] = [];
    const deadline = Date.now() + 90_000;
    for (;;) {
      // Both read in one evaluation: read one at a time, a redraw between them could pair a
      // Completed status with the counts of the draw before.
      const { counts, status } = await card.evaluate(
        (li: { querySelector(q: string): { textContent: string | null } | null }) => ({
          counts: li.querySelector('[data-testid="batch-counts"]')?.textContent ?? '',
          status: li.querySelector('[data-testid="batch-status"]')?.textContent ?? '',
        }),
      );
      if (seen.at(-1) !== counts) seen.push(counts);
      if (status === 'Completed') break;
      backend.let();
      if (Date.now() > deadline)
        throw new Error(`the batch did not complete; counts seen: ${seen.join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The page showed the counts move (at least one state before the last), never backwards, ending
    // whole.
    const completed = seen.map((text) => Number(/^(\d+) of/.exec(text)?.[1] ?? Number.NaN));
    expect(seen.length).toBeGreaterThan(1);
    expect(completed.every((n, i) => i === 0 || n >= (completed[i - 1] as number))).toBe(true);
    expect(seen.at(-1)).toBe(`${LINES} of ${LINES} done`);
    await expectText(card, 'Ended (UTC)');
    expect(await card.getByRole('button', { name: /^Cancel/ }).count()).toBe(0);

    // The download is fetched with the key in the Authorization header; no URL the page requests
    // holds it.
    const requests: { url: string; authorization: string | undefined }[] = [];
    page.on('request', (r) =>
      requests.push({ url: r.url(), authorization: r.headers().authorization }),
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      card.getByRole('button', { name: `Download the output of ${batch.id}` }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${batch.id}-output.jsonl`);
    const saved = readFileSync((await download.path()) as string, 'utf8')
      .trim()
      .split('\n');
    expect(saved).toHaveLength(LINES);
    const ids = saved.map(
      (l) => (JSON.parse(l) as { custom_id: string; response: { status_code: number } }).custom_id,
    );
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: LINES }, (_, i) => `line-${i}`)));
    const final = await openai.batches.retrieve(batch.id);
    const content = requests.find((r) =>
      r.url.endsWith(`/v1/files/${final.output_file_id}/content`),
    );
    expect(content?.authorization).toBe(`Bearer ${developerKey}`);
    expect(requests.some((r) => r.url.includes(developerKey))).toBe(false);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'batches-laptop.png'), fullPage: true });
  });

  it('cancels an active batch', async () => {
    // Four lines run; the rest wait until the cancel is asked for, so the batch is still active.
    backend.holdAfter(4);
    const batch = await createBatch(40, 200);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const card = page.locator(`li[data-batch-id="${batch.id}"]`);
    await card.waitFor();
    page.once('dialog', (dialog) => void dialog.accept());
    await card.getByRole('button', { name: `Cancel ${batch.id}` }).click();
    await expectText(card.getByTestId('batch-status'), 'Cancel');
    expect(['cancelling', 'cancelled']).toContain((await openai.batches.retrieve(batch.id)).status);
    backend.let();
    // Polled until the cancel finished: lines done before it stay counted, the rest never run.
    await expectText(card.getByTestId('batch-status'), 'Cancelled', 60_000);
    const after = await openai.batches.retrieve(batch.id);
    expect(after.status).toBe('cancelled');
    expect(after.request_counts?.completed).toBeLessThan(40);
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'batches-phone.png'), fullPage: true });
    await page.setViewportSize(LAPTOP);
  });

  it("shows the Developer's fine-tuning jobs or, where this deployment has no fine-tuning API yet, says so; and no fine-tuned models", async () => {
    await signIn(developerKey, 'fine-tuning');
    // Which answer is right depends on the deployment: ask the API itself.
    const route = await fetch(`${local.openAIBaseUrl}/fine_tuning/jobs`, {
      headers: { authorization: `Bearer ${developerKey}` },
    });
    if (route.status === 404) {
      await expectText(page.getByTestId('fine-tuning-not-deployed'), 'does not offer its API yet');
    } else {
      expect(route.status).toBe(200);
      await expectText(page.getByTestId('no-jobs'), 'No fine-tuning jobs yet');
    }
    await expectText(page.getByTestId('no-fine-tuned-models'), 'No fine-tuned models yet');
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'fine-tuning-laptop.png'),
      fullPage: true,
    });
  });

  it('tells the Free tier which tiers have batches and fine-tuning, instead of an error', async () => {
    await signIn(freeKey, 'batches');
    const batches = page.getByTestId('not-on-plan');
    await expectText(batches, 'The Batch API is not part of your plan.');
    await expectText(batches, 'The Batch API comes with the Developer and Enterprise plans.');
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Fine-tuning' })
      .click();
    await expectText(page.getByRole('heading', { level: 1 }), 'Fine-tuning');
    const tuning = page.getByTestId('not-on-plan');
    await expectText(tuning, 'Fine-tuning is not part of your plan.');
    await expectText(tuning, 'Fine-tuning comes with the Developer and Enterprise plans.');
    expect(await page.getByRole('alert').count()).toBe(0);
    await page.setViewportSize(PHONE);
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'fine-tuning-free-phone.png'),
      fullPage: true,
    });
    expect(problems).toEqual([]);
  });
});
