import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import OpenAI, { toFile } from 'openai';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { modelColour, shortModelName } from '../../console/src/format';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { adapterFiles, entriesOf, zipOf } from '../support/adapters';
import {
  CHROMIUM,
  expectText,
  LAPTOP,
  recordPageProblems,
  requireChromium,
  SCREENSHOTS,
} from '../support/console-browser';
import { clearOfMinuteBoundary } from '../support/windows';

// The callbacks given to page.evaluate run in the browser; the Node program has no DOM types.
// biome-ignore-start lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate
declare const document: any;
declare const sessionStorage: any;
declare function getComputedStyle(element: unknown): any;
// biome-ignore-end lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate

/**
 * The console's pages as a customer uses them, in Debian's Chromium against local mode: usage as
 * stacked bars with a colour per model that a reload keeps, a fine-tuned model's long id that
 * neither breaks the legend nor a 375 px phone; a playground conversation of several turns with its
 * parameters, a fine-tuned model, and the Responses API; errors in words; the spend page when the
 * limit is reached; a file uploaded, a batch created from it, and a batch whose requests all failed
 * shown in red, never green.
 */
requireChromium();
jest.setTimeout(120_000);

const config = loadConfig({ env: 'dev' });
const BASE = 'qwen3-8b';
const SMALL_PHONE = { width: 375, height: 740 };
/** The colour of a batch that succeeded (styles.css `.outcome-succeeded`). */
const GREEN = 'rgb(27, 122, 58)';

describe('the console pages a customer needs, in Chromium', () => {
  let local: LocalMode;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let key: string;
  let openai: OpenAI;
  let fineTuned: string;
  const problems: string[] = [];
  const bodies: { url: string; body: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({
        timeToFirstTokenMs: 50,
        tokensPerSecond: 200,
        replyTokens: 12,
      }),
      authorizerCacheTtlMs: 0,
    });
    key = local.demoCustomers.find((d) => d.tier === 'developer')?.apiKey as string;
    openai = new OpenAI({ apiKey: key, baseURL: local.openAIBaseUrl, maxRetries: 0 });
    fineTuned = await registerFineTunedModel(local, key, openai);
    browser = await chromium.launch({ executablePath: CHROMIUM });
    context = await browser.newContext({ viewport: LAPTOP });
    page = await context.newPage();
    recordPageProblems(page, problems);
    page.on('request', (request) => {
      const data = request.postData();
      if (request.method() === 'POST' && data?.startsWith('{'))
        bodies.push({ url: request.url(), body: JSON.parse(data) });
    });
    await signIn(key);
  });

  const signIn = async (signedInKey: string) => {
    await page.goto(local.consoleUrl as string);
    await page.evaluate((k) => sessionStorage.setItem('tierline.apiKey', k), signedInKey);
    await page.reload();
    await page.getByRole('heading', { level: 1 }).waitFor();
  };

  afterAll(async () => {
    await browser?.close();
    await local?.stop();
  });

  /** Waits for the `index`th answer of the conversation; an error shown instead fails with its words. */
  const answer = async (index: number) => {
    const turn = page.getByTestId('assistant-turn').nth(index);
    const alert = page.getByRole('alert').first();
    await Promise.race([turn.waitFor(), alert.waitFor()]);
    if (await alert.isVisible())
      throw new Error(`an error instead of answer ${index}: ${await alert.textContent()}`);
  };

  const open = async (hash: string, heading: string) => {
    await page.goto(`${local.consoleUrl}#/${hash}`);
    await expectText(page.getByRole('heading', { level: 1 }), heading);
  };

  it('plays a conversation of several turns with parameters and a fine-tuned model, then over the Responses API', async () => {
    await open('playground', 'Playground');
    const model = page.getByLabel('Model');
    await expectText(model.locator('optgroup[label="Your fine-tuned models"]'), fineTuned);
    await model.selectOption(fineTuned);
    await page.getByLabel('Temperature (0 to 2)').fill('0.4');
    await page.getByLabel('Top P (0 to 1)').fill('0.9');
    await page.getByLabel('Stop sequences (one a line, at most 4)').fill('END\n###');

    for (const [i, message] of ['Reply in JSON: hello', 'And again in JSON'].entries()) {
      await page.getByLabel('Message').fill(message);
      await page.getByRole('button', { name: 'Send' }).click();
      await answer(i);
    }
    await page.getByTestId('reply-stats').waitFor();
    const chats = bodies.filter((b) => b.url.endsWith('/v1/chat/completions'));
    expect(chats).toHaveLength(2);
    // The second turn carries the whole conversation: system, user, the first answer, user.
    const second = chats[1]?.body as { messages: { role: string; content: string }[] };
    expect(second.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(second.messages[2]?.content).toBe(
      await page.getByTestId('assistant-turn').first().locator('.turn-text').textContent(),
    );
    expect(second).toMatchObject({
      model: fineTuned,
      temperature: 0.4,
      top_p: 0.9,
      stop: ['END', '###'],
      stream: true,
    });
    expect(second).not.toHaveProperty('response_format');

    // The same conversation goes on over the Responses API, streamed; stop has no place there.
    await page.getByLabel('Responses (POST /v1/responses)').check();
    expect(await page.getByLabel('Stop sequences (one a line, at most 4)').isDisabled()).toBe(true);
    await page.getByLabel('Message').fill('A third turn in JSON');
    await page.getByRole('button', { name: 'Send' }).click();
    await answer(2);
    const responses = bodies.filter((b) => b.url.endsWith('/v1/responses'));
    expect(responses).toHaveLength(1);
    expect(responses[0]?.body).toMatchObject({
      model: fineTuned,
      instructions: 'You are a helpful assistant.',
      temperature: 0.4,
      top_p: 0.9,
      stream: true,
      store: false,
    });
    expect(responses[0]?.body.input).toHaveLength(5);
    expect(responses[0]?.body).not.toHaveProperty('stop');
    const stats = page.getByTestId('reply-stats');
    await expectText(stats, ' out');
    await expectText(stats, /Cost\$0\.0000\d+/);
    await expectText(page.getByTestId('assistant-turn').nth(2), /Model\S+/);

    // The snippets carry what the playground sends: the Responses path and the whole conversation.
    const curl =
      (await page
        .locator('details', { hasText: 'Show the curl snippet' })
        .locator('code')
        .textContent()) ?? '';
    expect(curl).toContain('/v1/responses');
    expect(curl).toContain('"temperature":0.4');
    expect(curl).toContain('A third turn in JSON');
    await page.getByRole('button', { name: 'New conversation' }).click();
    expect(await page.getByTestId('assistant-turn').count()).toBe(0);
  });

  it('draws usage as stacked bars, each model in its own colour after a reload, the fine-tuned id short in the legend and no wider than a 375 px phone', async () => {
    await openai.chat.completions.create({
      model: BASE,
      messages: [{ role: 'user', content: 'count me' }],
    });
    await page.setViewportSize(SMALL_PHONE);
    await open('usage', 'Usage');
    const chart = page.locator('figure.chart', { hasText: 'Requests' });
    await chart.waitFor();
    // The chart draws its legend after the usage arrives (and redraws when it is refreshed), so
    // wait for the model's legend row rather than reading it once.
    const legendColour = async (model: string) =>
      (
        await page.waitForFunction((label: string) => {
          const row = [
            ...document.querySelectorAll('figure.chart')[0].querySelectorAll('.u-series'),
          ].find(
            (r: { querySelector: (q: string) => { textContent: string } }) =>
              r.querySelector('.u-label')?.textContent === label,
          );
          return row ? getComputedStyle(row.querySelector('.u-marker')).backgroundColor : false;
        }, shortModelName(model))
      ).jsonValue();
    const rgb = (hex: string) =>
      `rgb(${[1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;
    expect(await legendColour(fineTuned)).toBe(rgb(modelColour(fineTuned)));
    expect(await legendColour(BASE)).toBe(rgb(modelColour(BASE)));

    // Bars: the fine-tuned model's pixels fill a rectangle, as a line's never would.
    const bar = await page.evaluate((hex: string) => {
      const canvas = document.querySelector('figure.chart canvas');
      const { width, height } = canvas;
      const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
      const want = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
      let count = 0;
      let [left, right, top, bottom] = [width, -1, height, -1];
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const at = (y * width + x) * 4;
          if (want.every((v, i) => Math.abs(pixels[at + i] - v) <= 2) && pixels[at + 3] === 255) {
            count++;
            left = Math.min(left, x);
            right = Math.max(right, x);
            top = Math.min(top, y);
            bottom = Math.max(bottom, y);
          }
        }
      }
      return { count, width: right - left + 1, height: bottom - top + 1 };
    }, modelColour(fineTuned));
    expect(bar.width).toBeGreaterThan(8);
    expect(bar.height).toBeGreaterThan(8);
    expect(bar.count / (bar.width * bar.height)).toBeGreaterThan(0.9);

    const scrollWidth = async () => page.evaluate(() => document.documentElement.scrollWidth);
    expect(await scrollWidth()).toBeLessThanOrEqual(SMALL_PHONE.width);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'usage-ft-375.png'), fullPage: true });

    await page.reload();
    await chart.waitFor();
    expect(await legendColour(fineTuned)).toBe(rgb(modelColour(fineTuned)));
    for (const hash of ['playground', 'files', 'batches', 'spend', 'plan']) {
      await page.goto(`${local.consoleUrl}#/${hash}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForTimeout(300);
      expect(`${hash}: ${await scrollWidth()}`).toBe(`${hash}: ${SMALL_PHONE.width}`);
    }
    await page.setViewportSize(LAPTOP);
  });

  it('uploads a JSONL file, creates a batch from it that succeeds in green, and shows a batch whose requests all failed in red', async () => {
    await open('files', 'Files');
    const line = (i: number, model: string) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model, messages: [{ role: 'user', content: `hi ${i}` }], max_tokens: 5 },
      });
    const upload = async (name: string, content: string) => {
      await page.getByLabel('File (JSONL, one JSON object a line)').setInputFiles({
        name,
        mimeType: 'application/jsonl',
        buffer: Buffer.from(content),
      });
      await page.getByRole('button', { name: 'Upload' }).click();
      await expectText(
        page.getByRole('status').filter({ hasText: 'uploaded' }),
        `${name} is uploaded`,
      );
    };
    await upload('good.jsonl', `${[0, 1, 2].map((i) => line(i, BASE)).join('\n')}\n`);
    await expectText(page.getByRole('region', { name: 'Your files' }), 'good.jsonl');
    // Requests to a model that is not there: accepted as a file, every line fails when it runs.
    await upload('doomed.jsonl', `${[0, 1].map((i) => line(i, 'no-such-model')).join('\n')}\n`);
    const listed = await openai.files.list({ purpose: 'batch' });
    expect(listed.data.map((f) => f.filename)).toEqual(
      expect.arrayContaining(['good.jsonl', 'doomed.jsonl']),
    );

    const outcomes: Record<string, { outcome: string; colour: string }> = {};
    for (const name of ['good.jsonl', 'doomed.jsonl']) {
      await open('batches', 'Batches');
      const fileId = listed.data.find((f) => f.filename === name)?.id as string;
      await page.getByLabel('Input file').selectOption(fileId);
      await page.getByLabel('Endpoint the lines call').selectOption('/v1/chat/completions');
      await page.getByLabel('Completion window').selectOption('24h');
      await page.getByRole('button', { name: 'Create batch' }).click();
      const created = page.getByRole('status').filter({ hasText: 'is created' });
      await expectText(created, 'is created');
      const batchId = /Batch (\S+) is created/.exec((await created.textContent()) ?? '')?.[1] ?? '';
      expect((await openai.batches.retrieve(batchId)).input_file_id).toBe(fileId);
      const status = page.locator(`li[data-batch-id="${batchId}"] [data-testid="batch-status"]`);
      await page.waitForFunction(
        (id: string) =>
          !['running'].includes(
            document
              .querySelector(`li[data-batch-id="${id}"] [data-testid="batch-status"]`)
              ?.getAttribute('data-outcome') ?? 'running',
          ),
        batchId,
        { timeout: 60_000 },
      );
      outcomes[name] = {
        outcome: (await status.getAttribute('data-outcome')) ?? '',
        colour: await status.evaluate((el) => getComputedStyle(el).color),
      };
    }
    expect(outcomes['good.jsonl']).toEqual({ outcome: 'succeeded', colour: GREEN });
    expect(outcomes['doomed.jsonl']?.outcome).toBe('failed');
    expect(outcomes['doomed.jsonl']?.colour).not.toBe(GREEN);
    expect(outcomes['doomed.jsonl']?.colour).toBe('rgb(179, 38, 30)');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'batches-outcomes.png'), fullPage: true });
  });

  it('says in words what went wrong, across pages: no header names, no API paths, no highlighted field', async () => {
    const words = async () => (await page.getByRole('alert').first().textContent()) ?? '';
    const walked: string[] = [];
    const check = async (title: string, sentence: string) => {
      const alert = page.getByRole('alert').first();
      await expectText(alert, title);
      await expectText(alert, sentence);
      const text = await words();
      expect(text).not.toMatch(/retry-after|x-ratelimit|\/v1\/|highlighted|invalid_request_error/i);
      walked.push(title);
    };

    // Five stop sequences, one more than the API takes.
    await open('playground', 'Playground');
    await page.getByLabel('Stop sequences (one a line, at most 4)').fill('a\nb\nc\nd\ne');
    await page.getByLabel('Message').fill('hello');
    await page.getByRole('button', { name: 'Send' }).click();
    await check('The request was not accepted', 'The value of the stop sequences is not accepted.');
    // Not answered: the message is back in the box, not in the conversation.
    expect(await page.getByLabel('Message').inputValue()).toBe('hello');
    expect(await page.getByTestId('user-turn').count()).toBe(0);

    // JSON mode, which the test model does not offer: the request asked for it, the refusal says so.
    await page.getByLabel('Stop sequences (one a line, at most 4)').fill('');
    await page.getByLabel(/JSON mode/).check();
    await page.getByRole('button', { name: 'Send' }).click();
    await check('Not supported by this model', 'This model does not support JSON mode.');
    expect(bodies.at(-1)?.body).toMatchObject({ response_format: { type: 'json_object' } });
    await page.getByLabel('Responses (POST /v1/responses)').check();
    await page.getByRole('button', { name: 'Send' }).click();
    await expectText(page.getByRole('alert').first(), 'This model does not support JSON mode.');
    expect(bodies.at(-1)).toMatchObject({
      url: expect.stringMatching(/\/v1\/responses$/),
      body: { text: { format: { type: 'json_object' } } },
    });
    await page.getByLabel(/JSON mode/).uncheck();

    // A file that is not JSONL.
    await open('files', 'Files');
    await page.getByLabel('File (JSONL, one JSON object a line)').setInputFiles({
      name: 'notes.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from('this is not json\n'),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await check('The file was not accepted', 'one JSON object a line');

    // The spend limit reached: the spend page says so, and a reply is refused in words.
    // The spend limit is an admin key's to read and set; inference keys run the models.
    const developer = local.demoCustomers.find((d) => d.tier === 'developer');
    const admin = (await local.operator.createAdminKey(developer?.customerId ?? '', 'console')).key;
    const setLimit = async (usd: number) => {
      const put = await fetch(`${local.openAIBaseUrl}/spend_limit`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ monthly_limit_usd: usd }),
      });
      expect(put.status).toBe(200);
    };
    // The page and this test name the same next month: no month's end (a minute's end) between.
    await clearOfMinuteBoundary(30_000);
    const month = new Date().toISOString().slice(0, 7);
    await setLimit(0);
    await signIn(admin);
    await open('spend', 'Spend limit');
    const standing = page.getByTestId('spend-standing');
    await expectText(standing, 'The limit is reached: new requests are refused.');
    const [year, monthNumber] = month.split('-').map(Number) as [number, number];
    const next = new Date(Date.UTC(year, monthNumber, 1)).toISOString().slice(0, 10);
    await expectText(standing, `accepted again on ${next} at 00:00 UTC`);
    await expectText(
      page.getByTestId('alert-recipients'),
      "Alerts at 50%, 75%, 90% of the limit go to your operator's notification list",
    );
    await expectText(page.getByTestId('alert-recipients'), 'They are not e-mailed to you');
    expect(await page.locator('.spend-bar progress').getAttribute('value')).toBe('100');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'spend-reached.png'), fullPage: true });

    await signIn(key);
    await open('playground', 'Playground');
    await page.getByLabel('Message').fill('one more');
    await page.getByRole('button', { name: 'Send' }).click();
    await check('Your monthly spend limit is reached', 'refused until the next month starts');

    // Raised again: the page says how much is left.
    await setLimit(100);
    await signIn(admin);
    await open('spend', 'Spend limit');
    await expectText(
      page.getByTestId('spend-standing'),
      'left this month before the limit is reached',
    );

    // Still signed in with the admin key: files are a project key's, and the page says so instead
    // of an empty list.
    await open('files', 'Files');
    await check('This key cannot do this', 'You are signed in with an admin key');
    expect(await page.getByRole('region', { name: 'Your files' }).count()).toBe(0);

    expect(walked).toHaveLength(5);
    expect(problems).toEqual([]);
  });

  it('lists files a page at a time: the oldest come with "Show older files"', async () => {
    // A full page (the console asks for 100) of newer files pushes the first uploads to the next.
    const names = Array.from({ length: 100 }, (_, i) => `newer-${i}.jsonl`);
    for (let i = 0; i < names.length; i += 10) {
      await Promise.all(
        names.slice(i, i + 10).map(async (name) =>
          openai.files.create({
            file: await toFile(Buffer.from(`{"custom_id":"${name}"}\n`), name),
            purpose: 'batch',
          }),
        ),
      );
    }
    await signIn(key);
    await open('files', 'Files');
    const table = page.getByRole('region', { name: 'Your files' });
    await expectText(table, 'newer-');
    expect(await table.textContent()).not.toContain('good.jsonl');
    await page.getByRole('button', { name: 'Show older files' }).click();
    await expectText(table, 'good.jsonl');
    await expectText(table, 'adapter.zip');
    expect(await page.getByRole('button', { name: 'Show older files' }).count()).toBe(0);
    expect(problems).toEqual([]);
  });
});

/** A LoRA adapter uploaded and registered (Groq's `/v1/fine_tunings`) under a long name: its `ft:` id. */
async function registerFineTunedModel(
  local: LocalMode,
  key: string,
  openai: OpenAI,
): Promise<string> {
  const architecture = config.models[BASE]?.architecture;
  if (!architecture) throw new Error('the base model has no architecture');
  const zip = await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE })));
  const file = await openai.files.create({
    file: await toFile(zip, 'adapter.zip'),
    purpose: 'fine-tune',
  });
  const registered = await fetch(`${local.openAIBaseUrl}/fine_tunings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      input_file_id: file.id,
      name: 'customer-support-assistant-for-the-emea-region-v2',
      type: 'lora',
      base_model: BASE,
    }),
  });
  if (registered.status !== 200)
    throw new Error(`registering the adapter: ${await registered.text()}`);
  const model = ((await registered.json()) as { data: { fine_tuned_model: string } }).data
    .fine_tuned_model;
  // Used once, so it has usage to chart beside the base model's.
  await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  return model;
}
