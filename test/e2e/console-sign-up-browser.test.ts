import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { MembershipsRepository } from '../../lambda/accounts/memberships';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { readLocalMail } from '../../local/local-cognito';
import { LOCAL_CUSTOMERS_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import {
  CHROMIUM,
  expectText,
  LAPTOP,
  PHONE,
  recordPageProblems,
  requireChromium,
} from '../support/console-browser';
import { localModeDocumentClient } from '../support/dynalite';

// biome-ignore-start lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate
declare const sessionStorage: any;
declare const window: any;
declare const document: any;
// biome-ignore-end lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * A new visitor in Chromium against local mode with its user pool (cognito-local): signs up,
 * reads the code from the local mail file, verifies, signs in, lands on the Free plan with its
 * first key shown once, and that key serves the official `openai` client. Then the password is
 * reset with a mailed code, and the console signs in with the new one.
 */
const PASSWORD = 'Visitor-2026-first!';
const NEW_PASSWORD = 'Visitor-2026-second!';
const EMAIL = 'visitor@console-sign-up.test';

requireChromium();

describe('sign-up in the console (Chromium, cognito-local)', () => {
  let local: LocalMode;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      signIn: {},
    });
    browser = await chromium.launch({ executablePath: CHROMIUM });
    context = await browser.newContext({ viewport: LAPTOP });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: local.url });
    page = await context.newPage();
    recordPageProblems(page, problems);
  });
  afterAll(async () => {
    await browser?.close();
    await local?.stop();
  });

  const latestCode = (reason: string) => {
    const mails = readLocalMail(local.signIn?.mailFile ?? '').filter(
      (m) => m.to === EMAIL && m.reason.includes(reason),
    );
    return mails.at(-1)?.code ?? '';
  };
  const form = (name: string) => page.getByRole('form', { name });

  it('signs a new visitor up, verifies the mailed code and lands on Free with its first key', async () => {
    await page.goto(local.consoleUrl as string);
    await page.getByRole('link', { name: 'Create an account' }).click();
    const signUp = form('Create your Tierline account');
    await signUp.getByLabel('E-mail address').fill(EMAIL);
    await signUp.getByLabel('New password').fill(PASSWORD);
    await signUp.getByRole('button', { name: 'Create account' }).click();

    const verify = form('Verify your e-mail address');
    await verify.waitFor();
    await verify.getByLabel('Code from the e-mail').fill(latestCode('SignUp'));
    await verify.getByRole('button', { name: 'Verify' }).click();

    const signIn = form('Sign in to the Tierline console');
    await signIn.waitFor();
    expect(await signIn.getByLabel('E-mail address').inputValue()).toBe(EMAIL);
    await signIn.getByLabel('Password').fill(PASSWORD);
    await signIn.getByRole('button', { name: 'Sign in' }).click();

    await expectText(
      page.getByRole('heading', { name: 'Your Free organization is ready' }),
      'Free',
    );
    await expectText(page.getByRole('heading', { level: 1 }), 'Free');
    const key = (await page.getByTestId('first-key').textContent()) ?? '';
    expect(key).toMatch(/^tl_[0-9A-Za-z]{49}$/);
    const client = new OpenAI({ apiKey: key, baseURL: local.openAIBaseUrl });
    const reply = await client.chat.completions.create({
      model: 'qwen3-8b',
      messages: [{ role: 'user', content: 'Hello from the console' }],
    });
    expect(reply.choices[0]?.message.content).toBeTruthy();

    // Shown once: dismissed, and a reload does not bring it back.
    await page.getByRole('button', { name: 'I have saved it' }).click();
    await page.reload();
    await expectText(page.getByRole('heading', { level: 1 }), 'Free');
    expect(await page.getByTestId('first-key').count()).toBe(0);
    // Bearer tokens in this tab's session storage only: no cookie, no token in the URL.
    const saved = JSON.parse(await page.evaluate(() => sessionStorage.getItem('tierline.session')));
    expect(saved).toMatchObject({ email: EMAIL, organization: expect.stringMatching(/^cus_/) });
    expect(page.url()).not.toContain(saved.accessToken);
    expect(await context.cookies()).toEqual([]);
  });

  it('pages run on the session: the Keys page lists the first key', async () => {
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Keys' })
      .click();
    await expectText(page.locator('main'), 'tl_');
  });

  it('switches between organizations when the user belongs to several, sending OpenAI-Organization', async () => {
    const saved = JSON.parse(await page.evaluate(() => sessionStorage.getItem('tierline.session')));
    const { customer } = await local.operator.createCustomer({
      name: 'Team Enterprise',
      email: 'owner@team.test',
      tier: 'enterprise',
    });
    const userId = JSON.parse(
      Buffer.from(String(saved.accessToken).split('.')[1] ?? '', 'base64url').toString(),
    ).sub;
    await new MembershipsRepository(
      localModeDocumentClient(local.dynamoEndpoint),
      LOCAL_CUSTOMERS_TABLE,
    ).put({
      userId,
      customerId: customer.customerId,
      role: 'member',
      email: EMAIL,
      createdAt: new Date().toISOString(),
    });
    const sent: string[] = [];
    page.on('request', (request) => {
      const organization = request.headers()['openai-organization'];
      if (request.url().includes('/v1/me') && organization) sent.push(organization);
    });

    await page.reload();
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Plan' })
      .click();
    await expectText(page.getByRole('heading', { level: 1 }), 'Free');
    await page.getByLabel('Organization').selectOption({ label: 'Team Enterprise' });

    await expectText(page.getByRole('heading', { level: 1 }), 'Enterprise');
    expect(sent).toContain(customer.customerId);
    expect(sent).toContain(saved.organization);
  });

  it('passes axe-core (WCAG 2.1 A/AA and best practices) on every account form, phone-wide too', async () => {
    // bypassCSP: axe is injected as an inline script, which the console's CSP rightly refuses.
    const auditContext = await browser.newContext({ viewport: PHONE, bypassCSP: true });
    const audit = await auditContext.newPage();
    const violations: string[] = [];
    for (const form of ['signin', 'signup', 'verify', 'forgot', 'reset']) {
      await audit.goto(`${local.consoleUrl}#/${form}`);
      await audit.getByRole('heading', { level: 1 }).waitFor();
      if (!(await audit.evaluate(() => 'axe' in window)))
        await audit.addScriptTag({ content: AXE });
      const result = await audit.evaluate(async () => {
        const axe = (
          window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<unknown> } }
        ).axe;
        return (await axe.run(document, {
          runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
        })) as { violations: { id: string; nodes: { target: string[] }[] }[] };
      });
      for (const v of result.violations)
        violations.push(`${form}: ${v.id} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      const scrollWidth = await audit.evaluate(() => document.documentElement.scrollWidth);
      if (scrollWidth > PHONE.width) violations.push(`${form}: ${scrollWidth}px wide on a phone`);
    }
    await auditContext.close();
    expect(violations).toEqual([]);
  });

  it('signs out, resets the password with a mailed code and signs in with the new one', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    const forgot = form('Reset your password');
    await forgot.getByLabel('E-mail address').fill(EMAIL);
    await forgot.getByRole('button', { name: 'Send a code' }).click();
    const reset = form('Choose a new password');
    await reset.waitFor();
    await reset.getByLabel('Code from the e-mail').fill(latestCode('ForgotPassword'));
    await reset.getByLabel('New password').fill(NEW_PASSWORD);
    await reset.getByRole('button', { name: 'Change password' }).click();

    const signIn = form('Sign in to the Tierline console');
    await signIn.waitFor();
    await signIn.getByLabel('Password').fill(PASSWORD);
    await signIn.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page.getByRole('alert'), 'not right');
    await signIn.getByLabel('Password').fill(NEW_PASSWORD);
    await signIn.getByRole('button', { name: 'Sign in' }).click();
    // Signed in again: both organizations to choose from, and no second Free organization made.
    await page.getByLabel('Organization').waitFor();
    expect(await page.getByLabel('Organization').locator('option').allTextContents()).toEqual(
      expect.arrayContaining(['Team Enterprise', `visitor's organization`]),
    );
    expect(await page.getByTestId('first-key').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
