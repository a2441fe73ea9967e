import { mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
  type Route,
} from 'playwright-core';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { wavFile } from '../support/audio-files';
import {
  CHROMIUM,
  expectText,
  LAPTOP,
  PHONE,
  recordPageProblems,
  requireChromium,
  SCREENSHOTS,
} from '../support/console-browser';
import { clearOfUtcDayEnd } from '../support/windows';

// The callbacks given to page.evaluate run in the browser. The Node program has no DOM types (they would
// change Node's own), so the few browser globals those callbacks use are declared loosely here.
// biome-ignore-start lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate
declare const document: any;
declare const window: any;
declare const sessionStorage: any;
declare const localStorage: any;
declare const navigator: any;
declare function getComputedStyle(element: unknown): any;
// biome-ignore-end lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate

/**
 * The console in a real browser (Debian's Chromium, driven by playwright-core) against local mode:
 * the flow of a new developer from sign-in to sign-out, an accessibility check of every page with
 * axe-core, and a screenshot of every page at laptop and phone width under `.screenshots/console/`
 * (git-ignored).
 */
const PAGES = [
  'plan',
  'usage',
  'keys',
  'spend',
  'files',
  'batches',
  'fine-tuning',
  'playground',
] as const;
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

requireChromium();

describe('the web console in Chromium', () => {
  let local: LocalMode;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let developerKey: string;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    local = await startLocalMode({
      // Free keys of their own (no shared pool): the throttle test spends one account's burst.
      config: loadConfig({ env: 'dev', overrides: { tiers: { free: { edgePool: null } } } }),
      port: 0,
      // Paced so the stream is visible: 150 ms to the first token, then 25 tokens a second.
      backend: new TestModelBackend({
        timeToFirstTokenMs: 150,
        tokensPerSecond: 25,
        replyTokens: 30,
      }),
      // No authorizer cache: a revoked key answers 401 on its next request.
      authorizerCacheTtlMs: 0,
    });
    developerKey = local.demoCustomers.find((d) => d.tier === 'developer')?.apiKey as string;
    browser = await chromium.launch({ executablePath: CHROMIUM });
    context = await browser.newContext({ viewport: LAPTOP });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: local.url });
    page = await context.newPage();
    // Any CSP violation or script error on any page fails the test at the end.
    recordPageProblems(page, problems);
  });

  afterAll(async () => {
    await browser?.close();
    await local?.stop();
  });

  const go = async (name: (typeof PAGES)[number]) => {
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: linkName(name) })
      .click();
    await page.getByRole('heading', { level: 1 }).waitFor();
  };

  it('refuses a wrong key in words and says what to do', async () => {
    await page.goto(local.consoleUrl as string);
    await page.getByLabel('API key').fill(`tl_${'x'.repeat(49)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await expectText(alert, 'This API key is not accepted');
    await expectText(alert, 'ask your operator for a new key');
  });

  it('signs in with a demo key and shows the plan first, with its exact limits', async () => {
    await page.getByLabel('API key').fill(developerKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page.getByRole('heading', { level: 1 }), 'Developer');
    expect(page.url()).toMatch(/#\/plan$/);
    const table = page.getByRole('table', { name: 'Developer: limits and prices per model' });
    const row = table.getByRole('row', { name: /qwen3-14b/ });
    // Exactly the configured figures: 1,000 RPM, 500,000 RPD, 300,000 TPM, 100,000,000 TPD, $0.59 /
    // $0.79.
    for (const text of [
      '1,000',
      '500,000',
      '300,000',
      '100,000,000',
      '$0.59 / $0.79',
      '$0.295 / $0.395',
    ]) {
      await expectText(row, text);
    }
    await expectText(
      page.getByRole('heading', { level: 2, name: 'What Enterprise adds' }),
      'Enterprise',
    );
    await expectText(page.locator('.upgrade'), 'contact your Tierline operator');
    // The key is in session storage only: not in the URL, not in local storage or cookies.
    expect(page.url()).not.toContain(developerKey);
    expect(await page.evaluate(() => sessionStorage.getItem('tierline.apiKey'))).toBe(developerKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await context.cookies()).toEqual([]);
  });

  it('streams a playground reply with tokens, cost, time to first token and rate-limit headers, and the usage chart follows', async () => {
    // The chart's total before and after the reply over the same days: the range ends today.
    await clearOfUtcDayEnd(60_000);
    await go('usage');
    const requestsChart = page.locator('figure.chart', { hasText: 'Requests' });
    await requestsChart.waitFor();
    const before = Number(await requestsChart.getAttribute('data-total'));

    await go('playground');
    await page.getByLabel('System prompt').fill('Answer in one sentence.');
    await page.getByLabel('Message').fill('Tell me about streaming');
    await page.getByLabel('Max tokens').fill('20');
    await page.getByRole('button', { name: 'Send' }).click();
    // Watch it stream: some words arrive while the reply is still being written. The words are
    // read in the same look as "still being written": read after it, they may be the whole reply.
    const streaming = await page.waitForFunction(() => {
      const el = document.querySelector('[data-testid="reply"]');
      // More than two words streamed (not the placeholder), and the reply still being written.
      const written =
        el?.getAttribute('aria-busy') === 'true' &&
        !el.querySelector('.muted') &&
        (el.textContent ?? '').split(' ').length > 2;
      return written && (el.querySelector('.turn-text')?.textContent ?? '');
    });
    const partial = String(await streaming.jsonValue());
    const stats = page.getByTestId('reply-stats');
    await stats.waitFor();
    // Streamed to its end, the reply is the conversation's answer.
    const full =
      (await page.getByTestId('assistant-turn').last().locator('.turn-text').textContent()) ?? '';
    expect(full.length).toBeGreaterThan(partial.length);
    expect(full.startsWith(partial)).toBe(true);
    await expectText(stats, '20 out');
    await expectText(stats, 'Time to first token');
    await expectText(stats, /Cost\$0\.0000\d+/);
    await expectText(page.locator('dl.headers'), 'x-ratelimit-remaining-requests');
    await expectText(page.locator('dl.headers'), 'x-ratelimit-reset-tokens');

    await page.getByRole('button', { name: 'Copy as curl' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toContain('curl -N');
    expect(copied).toContain('$TIERLINE_API_KEY');
    expect(copied).not.toContain(developerKey);

    await go('usage');
    await page.waitForFunction(
      (previous) =>
        Number(document.querySelector('figure.chart')?.getAttribute('data-total')) === previous + 1,
      before,
    );
    await expectText(page.getByRole('region', { name: 'Usage per day and model' }), 'qwen3-8b');
  });

  it('shows the audio seconds of a transcription in the usage totals, chart and table', async () => {
    const form = new FormData();
    form.set('model', 'whisper-large-v3-turbo');
    form.set('file', new Blob([new Uint8Array(wavFile({ seconds: 31.2 }))]), 'talk.wav');
    const answer = await fetch(`${local.openAIBaseUrl}/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${developerKey}` },
      body: form,
    });
    expect(answer.status).toBe(200);
    await go('usage');
    await page.reload();
    await page.getByRole('heading', { level: 1 }).waitFor();
    // The chart may be drawn before the usage arrives: wait for its total, not its first drawing.
    const audioChart = page.locator('figure.chart', { hasText: 'Audio seconds' });
    await page
      .locator('figure.chart[data-total="32"]', { hasText: 'Audio seconds' })
      .waitFor()
      .catch(async () => {
        throw new Error(
          `audio seconds total ${await audioChart.getAttribute('data-total')}, not 32`,
        );
      });
    await expectText(page.getByTestId('usage-totals'), '32 audio seconds');
    const table = page.getByRole('region', { name: 'Usage per day and model' });
    await expectText(table, 'whisper-large-v3-turbo');
    await expectText(table.getByRole('columnheader', { name: 'Audio seconds' }), 'Audio seconds');
  });

  it('tells an inference key it cannot manage keys, then manages them with an admin key', async () => {
    await go('keys');
    // Signed in with an inference key: the key list is refused, in words.
    await expectText(page.getByRole('alert'), 'This key cannot do this');
    // The customer's admin key (the operator CLI's `customers admin-key`) manages keys.
    const developer = local.demoCustomers.find((d) => d.tier === 'developer');
    const admin = await local.operator.createAdminKey(developer?.customerId ?? '', 'console');
    await page.evaluate((key) => sessionStorage.setItem('tierline.apiKey', key), admin.key);
    await page.reload();
    await page.getByRole('heading', { level: 1 }).waitFor();
    await page.getByLabel('Key name').fill('browser test');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('new-key').textContent()) ?? '';
    expect(secret).toMatch(/^tl_[0-9A-Za-z]{49}$/);
    const call = (key: string) =>
      fetch(`${local.openAIBaseUrl}/models`, { headers: { authorization: `Bearer ${key}` } });
    expect((await call(secret)).status).toBe(200);

    const row = page.getByRole('row', { name: /browser test/ });
    await expectText(row, 'active');
    // This session's requests used the primary key: its last use is recorded (to the hour).
    await expectText(
      page.getByRole('row', { name: /Primary key/ }).getByTestId('last-used'),
      'Within the last hour',
    );
    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Revoke browser test' }).click();
    await expectText(row, 'revoked');
    expect((await call(secret)).status).toBe(401);
    // The secret is gone from the page once revoked: it was shown once.
    expect(await page.content()).not.toContain(secret);
  });

  it('sets a spend limit and shows the 50/75/90% marks', async () => {
    await go('spend');
    await page.getByLabel('Monthly limit in USD').fill('25');
    await page.getByRole('button', { name: 'Save limit' }).click();
    await expectText(page.getByRole('status'), 'The spend limit is now $25.00 a month.');
    await expectText(page.getByTestId('limit'), '$25.00');
    for (const mark of ['50%: $12.50', '75%: $18.75', '90%: $22.50'])
      await expectText(page.locator('.marks'), mark);
    // Read back with the admin key the console is signed in with (an inference key gets 403).
    const adminKey = await page.evaluate(() => sessionStorage.getItem('tierline.apiKey'));
    expect(adminKey).toMatch(/^tl_admin_/);
    const limit = await fetch(`${local.openAIBaseUrl}/spend_limit`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(((await limit.json()) as { monthly_limit_usd: number }).monthly_limit_usd).toBe(25);
  });

  // Under load (four engineers' tests on two cores), ten pages with axe take a while: a minute each
  // width.
  it.each([
    ['laptop', LAPTOP],
    ['phone', PHONE],
  ])(
    'passes an axe accessibility check on every page at %s width, and is screenshotted',
    async (width, viewport) => {
      // axe is injected as a script, which the console's CSP rightly forbids: this context bypasses
      // CSP for it.
      const audit = await browser.newContext({ viewport, bypassCSP: true });
      const auditPage = await audit.newPage();
      await auditPage.goto(local.consoleUrl as string);
      await auditPage.evaluate(
        (key) => sessionStorage.setItem('tierline.apiKey', key),
        developerKey,
      );
      await auditPage.reload();
      const violations: string[] = [];
      for (const name of PAGES) {
        await auditPage.goto(`${local.consoleUrl}#/${name}`);
        await expectText(auditPage.getByRole('heading', { level: 1 }), PAGE_HEADINGS[name]);
        // Loaded: no "Loading ..." status left on the page.
        await auditPage.waitForFunction(() => !document.querySelector('p.muted[role="status"]'));
        // Hash routes keep the page: axe is injected once per context.
        if (!(await auditPage.evaluate(() => 'axe' in window)))
          await auditPage.addScriptTag({ content: AXE });
        const result = await auditPage.evaluate(async () => {
          const axe = (
            window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<unknown> } }
          ).axe;
          return (await axe.run(document, {
            runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
          })) as { violations: { id: string; nodes: { target: string[] }[] }[] };
        });
        for (const v of result.violations) {
          violations.push(
            `${width} ${name}: ${v.id} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
          );
        }
        await auditPage.screenshot({
          path: path.join(SCREENSHOTS, `${name}-${width}.png`),
          fullPage: true,
        });
        // Nothing wider than the viewport (a phone must not scroll sideways; wide tables scroll in
        // their box).
        const scrollWidth = await auditPage.evaluate(() => document.documentElement.scrollWidth);
        if (scrollWidth > viewport.width)
          violations.push(`${width} ${name}: page is ${scrollWidth}px wide`);
      }
      // The checker is live: an image without alternative text is found.
      const control = await auditPage.evaluate(async () => {
        document
          .querySelector('main')
          ?.append(Object.assign(document.createElement('img'), { src: 'data:,' }));
        const axe = (
          window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<unknown> } }
        ).axe;
        const run = (await axe.run(document, { runOnly: ['wcag2a'] })) as {
          violations: { id: string }[];
        };
        return run.violations.map((v) => v.id);
      });
      expect(control).toContain('image-alt');
      await audit.close();
      expect(violations).toEqual([]);
    },
    120_000,
  );

  it('can be used with the keyboard alone, with a visible focus', async () => {
    await page.goto(`${local.consoleUrl}#/plan`);
    await page.reload();
    await page.getByRole('heading', { level: 1 }).waitFor();
    await page.keyboard.press('Tab'); // skip link
    await page.keyboard.press('Tab'); // first navigation link: Plan
    await page.keyboard.press('Tab'); // Usage
    const focused = page.locator(':focus');
    await expectText(focused, 'Usage');
    const outline = await focused.evaluate((el) => getComputedStyle(el).outlineStyle);
    expect(outline).toBe('solid');
    await page.keyboard.press('Enter');
    await expectText(page.getByRole('heading', { level: 1 }), 'Usage');
  });

  it('keeps the key through a rate limit at the gateway, says so, and loads once it passes', async () => {
    const { apiKey } = await local.operator.createCustomer({
      name: 'Throttled',
      email: 'throttled@test.local',
      tier: 'free',
    });
    // The Free plan's gateway burst spent just before the console asks who the key is: the key's
    // first requests wait until a 429 shows the bucket empty. Spent before the page loads, the
    // bucket refilled (2 a second) while a loaded machine loaded it, and the console got in.
    const spendBurst = async () => {
      for (let sent = 0; sent < 100; sent++) {
        const answer = await fetch(`${local.openAIBaseUrl}/models`, {
          headers: { authorization: `Bearer ${apiKey}` },
        });
        await answer.text();
        if (answer.status === 429) return;
      }
      throw new Error('no 429 in 100 requests');
    };
    let spent: Promise<void> | undefined;
    const ofThisKey = async (route: Route) => {
      if (route.request().headers().authorization === `Bearer ${apiKey}`) {
        spent ??= spendBurst();
        await spent;
      }
      await route.continue();
    };
    await page.route(`${local.openAIBaseUrl}/**`, ofThisKey);
    await page.goto(local.consoleUrl as string);
    await page.evaluate((key) => sessionStorage.setItem('tierline.apiKey', key), apiKey as string);
    await page.reload();
    await expectText(page.getByRole('alert'), 'Rate limit reached');
    await page.unroute(`${local.openAIBaseUrl}/**`, ofThisKey);
    expect(await page.evaluate(() => sessionStorage.getItem('tierline.apiKey'))).toBe(apiKey);
    // The bucket refills (2 a second) and the console asks again: signed in, on the Free plan.
    await expectText(page.getByRole('heading', { level: 1 }), 'Free');
    // Developer is self-service: the Plan page sends a Free organization to Billing.
    const upgrade = page.getByTestId('self-service-upgrade');
    await expectText(upgrade, 'add a payment method on the Billing page');
    expect(await upgrade.getByRole('link', { name: 'Go to Billing' }).getAttribute('href')).toBe(
      '#/billing',
    );

    await page.evaluate((key) => sessionStorage.setItem('tierline.apiKey', key), developerKey);
    await page.reload();
    await expectText(page.getByRole('heading', { level: 1 }), 'Developer');
    // It waits for a real refill and three page loads: more than jest's 30 s at load 10 (once).
  }, 60_000);

  it('signs out: the key is forgotten and the sign-in form is back', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('tierline.apiKey'))).toBeNull();
    await page.reload();
    await page.getByLabel('API key').waitFor();
    expect(problems).toEqual([]);
  });
});

function linkName(name: (typeof PAGES)[number]): string {
  return {
    plan: 'Plan',
    usage: 'Usage',
    keys: 'Keys',
    spend: 'Spend limit',
    files: 'Files',
    batches: 'Batches',
    'fine-tuning': 'Fine-tuning',
    playground: 'Playground',
  }[name];
}

const PAGE_HEADINGS: Record<(typeof PAGES)[number], string> = {
  plan: 'Developer',
  usage: 'Usage',
  keys: 'API keys',
  spend: 'Spend limit',
  files: 'Files',
  batches: 'Batches',
  'fine-tuning': 'Fine-tuning',
  playground: 'Playground',
};
