import { readFileSync } from 'node:fs';
import OpenAI, { PermissionDeniedError } from 'openai';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { readLocalMail } from '../../local/local-cognito';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import {
  CHROMIUM,
  expectText,
  LAPTOP,
  PHONE,
  recordPageProblems,
  requireChromium,
} from '../support/console-browser';

// biome-ignore-start lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate
declare const sessionStorage: any;
declare const document: any;
declare const window: any;
// biome-ignore-end lint/suspicious/noExplicitAny: browser globals, seen only inside page.evaluate

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * The console's account pages in Chromium against local mode with its user pool (cognito-local):
 * a new visitor signs up, verifies with the mailed code, lands on Free with a key that serves the
 * `openai` client; invites a member from the Members page; the member opens the mailed link, signs
 * up and in, joins the organization, sees its usage but no key buttons (and the API refuses them
 * a key); the owner creates a project with a restricted key that can chat but not list files.
 */
const PASSWORD = 'Owner-2026-accounts!';
const OWNER = 'owner@console-accounts.test';
const MEMBER = 'member@console-accounts.test';
const MODEL = 'qwen3-8b';

jest.setTimeout(60_000);

requireChromium();

describe('account pages in the console (Chromium, cognito-local)', () => {
  let local: LocalMode;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let owner: Page;
  let member: Page;
  let organizationId: string;

  // Retries as the client does by default: the Free plan's gateway rate (2 a second) is shared
  // with the console's own requests, and a throttled request waits its retry-after.
  const client = (apiKey: string, organization?: string) =>
    new OpenAI({ apiKey, organization, baseURL: local.openAIBaseUrl, maxRetries: 3 });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: LAPTOP });
    contexts.push(context);
    const page = await context.newPage();
    // Within a test's time: a missing control fails naming itself, not the test's timeout.
    page.setDefaultTimeout(10_000);
    recordPageProblems(page, problems);
    return page;
  }

  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      signIn: {},
    });
    browser = await chromium.launch({ executablePath: CHROMIUM });
    owner = await newPage();
    member = await newPage();
  });
  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await local?.stop();
  });

  const mails = () => readLocalMail(local.signIn?.mailFile ?? '');
  const nav = (page: Page, name: string) =>
    page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true });

  /**
   * The page's next successful POST whose URL contains `path`: a throttled one (429) is sent
   * again by the admin pages, and only the accepted one has changed anything.
   */
  const answered = (page: Page, path: string) =>
    page.waitForResponse(
      (r) => r.request().method() === 'POST' && r.url().includes(path) && r.ok(),
    );

  /** Waits until `read` gives `expected` (the console renders asynchronously). */
  async function until<T>(read: () => Promise<T>, expected: T, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    while (Date.now() < deadline) {
      last = await read().catch(() => undefined);
      if (last === expected) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(last).toEqual(expected);
  }

  /** Signs up from the sign-in page, verifies with the mailed code, signs in. */
  async function signUp(page: Page, email: string) {
    await page.getByRole('link', { name: 'Create an account' }).click();
    const form = page.getByRole('form', { name: 'Create your Tierline account' });
    await form.getByLabel('E-mail address').fill(email);
    await form.getByLabel('New password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Create account' }).click();
    const verify = page.getByRole('form', { name: 'Verify your e-mail address' });
    await verify.waitFor();
    const code = mails().filter((m) => m.to === email && m.reason.includes('SignUp'));
    await verify.getByLabel('Code from the e-mail').fill(code.at(-1)?.code ?? '');
    await verify.getByRole('button', { name: 'Verify' }).click();
    const signIn = page.getByRole('form', { name: 'Sign in to the Tierline console' });
    await signIn.waitFor();
    await signIn.getByLabel('Password').fill(PASSWORD);
    await signIn.getByRole('button', { name: 'Sign in' }).click();
  }

  it('a new visitor signs up, lands on Free with a key, and that key serves the openai client', async () => {
    await owner.goto(local.consoleUrl as string);
    await signUp(owner, OWNER);
    await expectText(
      owner.getByRole('heading', { name: 'Your Free organization is ready' }),
      'Free',
    );
    const key = (await owner.getByTestId('first-key').textContent()) ?? '';
    const reply = await client(key).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello from the owner' }],
    });
    expect(reply.choices[0]?.message.content).toBeTruthy();
    await owner.getByRole('button', { name: 'I have saved it' }).click();
    organizationId = JSON.parse(
      await owner.evaluate(() => sessionStorage.getItem('tierline.session')),
    ).organization;
    expect(organizationId).toMatch(/^cus_/);
  });

  it('the owner invites a member by e-mail; the invitation is listed as pending', async () => {
    await nav(owner, 'Members').click();
    await expectText(owner.getByRole('table', { name: 'Members' }), OWNER);
    const invite = owner.getByRole('form', { name: 'Invite a member' });
    await invite.getByLabel('E-mail address').fill(MEMBER);
    await invite.getByLabel('Role').selectOption('reader');
    await invite.getByRole('button', { name: 'Send invitation' }).click();
    await expectText(owner.getByRole('table', { name: 'Pending invitations' }), MEMBER);
  });

  it('the member opens the mailed link, signs up and in, joins the organization and reads it', async () => {
    const link = mails().find((m) => m.to === MEMBER && m.reason === 'Invite')?.link ?? '';
    expect(link).toContain('#/invite?token=');
    await member.goto(link);
    await signUp(member, MEMBER);
    await expectText(member.getByRole('heading', { level: 1 }), 'Free');
    // Joined the owner's organization, not a Free one of their own (no first key shown).
    expect(await member.getByTestId('first-key').count()).toBe(0);
    const session = JSON.parse(
      await member.evaluate(() => sessionStorage.getItem('tierline.session')),
    );
    expect(session.organization).toBe(organizationId);

    await nav(member, 'Members').click();
    await expectText(member.getByRole('table', { name: 'Members' }), MEMBER);
    expect(await member.getByRole('button', { name: 'Send invitation' }).count()).toBe(0);
    expect(await member.getByRole('button', { name: /^Remove / }).count()).toBe(0);
    expect(await nav(member, 'Audit log').count()).toBe(0);

    // Usage: the owner's request, in the table of usage per project and key.
    await nav(member, 'Projects').click();
    await expectText(member.getByTestId('project-usage'), 'Default project');
    expect(await member.getByRole('button', { name: 'Create project' }).count()).toBe(0);

    await nav(member, 'Keys').click();
    await member.getByTestId('keys-read-only').waitFor();
    expect(await member.getByRole('button', { name: 'Create key' }).count()).toBe(0);
    expect(await member.getByRole('button', { name: /^Revoke / }).count()).toBe(0);

    // And the API refuses a member's session a key, through the official client.
    const asMember = client(session.accessToken, organizationId);
    await expect(asMember.post('/keys', { body: { name: 'not mine' } })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
  });

  it('the owner sees the member, creates a project and a restricted key that chats but cannot list files', async () => {
    await owner.reload();
    await expectText(owner.getByRole('table', { name: 'Members' }), MEMBER);
    expect(await owner.getByRole('table', { name: 'Pending invitations' }).count()).toBe(0);

    await nav(owner, 'Projects').click();
    const newProject = owner.getByRole('form', { name: 'New project' });
    await newProject.getByLabel('Project name').fill('Mobile app');
    await newProject.getByRole('button', { name: 'Create project' }).click();
    await owner.getByRole('button', { name: 'Open Mobile app' }).click();
    const form = owner.getByRole('form', { name: 'New project key' });
    await form.getByLabel('Key name').fill('chat only');
    await form.getByLabel('Restricted').check();
    await form.getByLabel('Chat and Responses').selectOption('write');
    await form.getByRole('button', { name: 'Create key' }).click();
    const key = (await owner.getByTestId('new-project-key').textContent()) ?? '';
    expect(key).toMatch(/^tl_[0-9A-Za-z]{49}$/);
    await expectText(owner.getByRole('table', { name: 'Keys of this project' }), 'chat only');
    await expectText(
      owner.getByRole('table', { name: 'Keys of this project' }),
      'Restricted (Chat and Responses: write)',
    );

    const restricted = client(key);
    const reply = await restricted.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello from the project' }],
    });
    expect(reply.choices[0]?.message.content).toBeTruthy();
    await expect(restricted.files.list()).rejects.toBeInstanceOf(PermissionDeniedError);

    // The project's request counted under its own name.
    await owner.reload();
    await expectText(owner.getByTestId('project-usage'), 'Mobile app');
  });

  it('the owner reads the audit log: the invitation, the project and its key', async () => {
    await nav(owner, 'Audit log').click();
    const log = owner.getByRole('table', { name: /^Audit log/ });
    await expectText(log, 'invite.sent');
    await expectText(log, 'project.created');
    await expectText(log, 'api_key.created');
    expect(problems).toEqual([]);
  });

  it('the owner narrows a rate limit of the project, makes the member an owner, then removes them', async () => {
    await nav(owner, 'Projects').click();
    await owner.getByRole('button', { name: 'Open Mobile app' }).click();
    const row = owner.locator(`tr[data-model="${MODEL}"]`);
    await row.getByLabel(`Requests per minute of ${MODEL}`).fill('1');
    // Reloaded only once the change is answered: a reload aborts a request still in flight.
    const saved = answered(owner, '/rate_limits/');
    await row.getByRole('button', { name: 'Save' }).click();
    await saved;
    await owner.reload();
    await owner.getByRole('button', { name: 'Open Mobile app' }).click();
    await until(() => row.getByLabel(`Requests per minute of ${MODEL}`).inputValue(), '1');

    await nav(owner, 'Members').click();
    const role = owner.getByLabel(`Role of ${MEMBER}`);
    const promoted = answered(owner, '/organization/users/');
    await role.selectOption('owner');
    await promoted;
    await owner.reload();
    await until(() => role.inputValue(), 'owner');
    owner.once('dialog', (dialog) => dialog.accept());
    await owner.getByRole('button', { name: `Remove ${MEMBER}` }).click();
    await until(
      async () =>
        ((await owner.getByRole('table', { name: 'Members' }).textContent()) ?? '').includes(
          MEMBER,
        ),
      false,
    );
  });

  it('passes axe-core (WCAG 2.1 A/AA and best practices) on the account pages, laptop and phone', async () => {
    const session = await owner.evaluate(() => sessionStorage.getItem('tierline.session'));
    const violations: string[] = [];
    for (const viewport of [LAPTOP, PHONE]) {
      // bypassCSP: axe is injected as an inline script, which the console's CSP rightly refuses.
      const context = await browser.newContext({ viewport, bypassCSP: true });
      contexts.push(context);
      const audit = await context.newPage();
      audit.setDefaultTimeout(10_000);
      await audit.goto(local.consoleUrl as string);
      await audit.evaluate(
        (saved: string) => sessionStorage.setItem('tierline.session', saved),
        session,
      );
      for (const path of ['members', 'projects', 'audit']) {
        await audit.goto(`${local.consoleUrl}#/${path}`);
        await audit.reload();
        await audit.getByRole('table').first().waitFor();
        if (path === 'projects')
          await audit.getByRole('button', { name: 'Open Mobile app' }).click();
        await audit.getByRole('table').last().waitFor();
        await audit.addScriptTag({ content: AXE });
        const result = await audit.evaluate(async () => {
          const axe = (
            window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<unknown> } }
          ).axe;
          return (await axe.run(document, {
            runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
          })) as { violations: { id: string; nodes: { target: string[] }[] }[] };
        });
        const where = `${path} at ${viewport.width}px`;
        for (const v of result.violations)
          violations.push(
            `${where}: ${v.id} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
          );
        const width = await audit.evaluate(() => document.documentElement.scrollWidth);
        if (width > viewport.width) violations.push(`${where}: ${width}px wide`);
      }
    }
    expect(violations).toEqual([]);
  });
});
