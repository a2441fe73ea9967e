import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { readLocalMail } from '../../local/local-mail';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * OpenAI's spend limit and spend alerts of the administration API over real HTTP with the official
 * `openai` client (`client.admin.organization.spendLimit`, `.spendAlerts`, `.projects.spendAlerts`)
 * against local mode: every answer validated against OpenAI's schemas and Tierline's
 * /openapi.json, and the alert e-mails read back from `<data>/mail.txt`.
 */
const config = loadConfig({ env: 'dev' });
const RECIPIENTS = ['ops@alerts.test', 'cfo@alerts.test'];

describe('spend limit and spend alerts through client.admin.organization', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let dataDir: string;
  let clients: LocalClients;
  const newOrganization = async (name: string) => {
    const { customerId, admin, primary } = await clients.newOrganization(name, 'alerts.test');
    const project = await admin.admin.organization.projects.create({ name: 'Alerts' });
    return { customerId, admin, primary, project };
  };
  const keyOf = (admin: OpenAI, project: string) => clients.projectKey(admin, project);
  /** A request of about 20,000 prompt tokens to qwen3-14b ($0.59 per 1M in): more than a cent. */
  const centOrMore = (openai: OpenAI) =>
    openai.chat.completions.create({
      model: 'qwen3-14b',
      max_completion_tokens: 4,
      messages: [{ role: 'user', content: 'word '.repeat(20_000) }],
    });
  const alertBody = (cents: number, recipients = RECIPIENTS) => ({
    threshold_amount: cents,
    currency: 'USD' as const,
    interval: 'month' as const,
    notification_channel: { type: 'email' as const, recipients, subject_prefix: '[alerts]' },
  });
  const alertMail = () =>
    readLocalMail(path.join(dataDir, 'mail.txt')).filter((m) => m.reason === 'SpendAlert');
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
    );

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'tierline-spend-alerts-'));
    local = await startLocalMode({
      config,
      port: 0,
      dataDir,
      backend: new TestModelBackend({ replyTokens: 2, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      console: false,
    });
    clients = localClients(local, spec.fetch);
  }, 60_000);
  afterAll(async () => {
    await local.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sets, reads and deletes the organization spend limit, the same limit as /v1/spend_limit', async () => {
    const { admin } = await newOrganization('org-limit');
    const spendLimit = admin.admin.organization.spendLimit;
    const set = await spendLimit.update({
      threshold_amount: 2_500,
      currency: 'USD',
      interval: 'month',
    });
    expect(set).toEqual({
      object: 'organization.spend_limit',
      threshold_amount: 2_500,
      currency: 'USD',
      interval: 'month',
      enforcement: { status: 'enforcing' },
    });
    expect(await spendLimit.retrieve()).toMatchObject({ threshold_amount: 2_500 });
    expect(await admin.get('/spend_limit')).toMatchObject({ monthly_limit_usd: 25 });
    // And the other way: the legacy route's change is what the admin API shows.
    await admin.put('/spend_limit', { body: { monthly_limit_usd: 7.5 } });
    expect(await spendLimit.retrieve()).toMatchObject({ threshold_amount: 750 });
    const bad = await refusal(
      spendLimit.update({ threshold_amount: 0, currency: 'USD', interval: 'month' }),
    );
    expect(bad).toMatchObject({ status: 400, param: 'threshold_amount' });
    expect(await spendLimit.delete()).toEqual({
      object: 'organization.spend_limit.deleted',
      deleted: true,
    });
    expect(await admin.get('/spend_limit')).toMatchObject({ monthly_limit_usd: null });
    await expect(spendLimit.retrieve()).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('creates, lists, pages, updates and deletes organization alerts; bad bodies get 400s', async () => {
    const { admin } = await newOrganization('org-alerts');
    const alerts = admin.admin.organization.spendAlerts;
    const first = await alerts.create(alertBody(100));
    expect(first).toMatchObject({
      object: 'organization.spend_alert',
      threshold_amount: 100,
      notification_channel: { type: 'email', recipients: RECIPIENTS, subject_prefix: '[alerts]' },
    });
    const second = await alerts.create(alertBody(200));
    const page = await alerts.list({ limit: 1 });
    expect(page.data.map((a) => a.id)).toEqual([first.id]);
    expect(page.has_more).toBe(true);
    const desc = await alerts.list({ order: 'desc' });
    expect(desc.data.map((a) => a.id)).toEqual([second.id, first.id]);
    const updated = await alerts.update(first.id, alertBody(150, ['new@alerts.test']));
    expect(updated).toMatchObject({ id: first.id, threshold_amount: 150 });
    expect(await alerts.retrieve(first.id)).toMatchObject({ threshold_amount: 150 });
    expect(await alerts.delete(second.id)).toEqual({
      id: second.id,
      object: 'organization.spend_alert.deleted',
      deleted: true,
    });
    await expect(alerts.retrieve(second.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    const badBodies: [unknown, string][] = [
      [{ ...alertBody(1), currency: 'EUR' }, 'currency'],
      [{ ...alertBody(-1) }, 'threshold_amount'],
      [{ ...alertBody(1), colour: 'red' }, 'colour'],
      [alertBody(1, ['not an address']), 'notification_channel.recipients'],
      [alertBody(1, []), 'notification_channel.recipients'],
      [
        {
          ...alertBody(1),
          notification_channel: {
            type: 'email',
            recipients: RECIPIENTS,
            subject_prefix: 'a\r\nBcc: x@y.z',
          },
        },
        'notification_channel.subject_prefix',
      ],
      [
        { ...alertBody(1), notification_channel: { type: 'sms', recipients: RECIPIENTS } },
        'notification_channel.type',
      ],
      [{ threshold_amount: 1, currency: 'USD', interval: 'month' }, 'notification_channel'],
    ];
    for (const [body, param] of badBodies) {
      const refused = await refusal(admin.post('/organization/spend_alerts', { body }));
      expect({ status: refused.status, param: refused.param }).toEqual({ status: 400, param });
    }
    const audit = await admin.admin.organization.auditLogs.list({ limit: 20 });
    expect(
      audit.data.filter((e) => e.type === 'organization.updated').length,
    ).toBeGreaterThanOrEqual(4);
  });

  it("keeps each organization's and project's alerts its own: another's ids answer 404, project keys 403", async () => {
    const mine = await newOrganization('alerts-mine');
    const theirs = await newOrganization('alerts-theirs');
    const alert = await mine.admin.admin.organization.spendAlerts.create(alertBody(100));
    const projectAlert = await mine.admin.admin.organization.projects.spendAlerts.create(
      mine.project.id,
      alertBody(100),
    );
    expect(projectAlert.object).toBe('project.spend_alert');
    await expect(
      theirs.admin.admin.organization.spendAlerts.retrieve(alert.id),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(
      theirs.admin.admin.organization.spendAlerts.delete(alert.id),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(
      theirs.admin.admin.organization.projects.spendAlerts.list(mine.project.id),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(
      theirs.admin.admin.organization.projects.spendAlerts.create(mine.project.id, alertBody(1)),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // The project's alert is not the organization's, nor the other way round.
    await expect(
      mine.admin.admin.organization.spendAlerts.retrieve(projectAlert.id),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const key = await keyOf(mine.admin, mine.project.id);
    // Thunks: each call starts only when the previous one was refused.
    for (const call of [
      () => key.admin.organization.spendAlerts.list(),
      () => key.admin.organization.spendAlerts.create(alertBody(1)),
      () => key.admin.organization.spendLimit.retrieve(),
      () => key.admin.organization.projects.spendAlerts.list(mine.project.id),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    }
  });

  it('e-mails each crossed alert once to its recipients, for the organization and for a project', async () => {
    const { admin, primary, project } = await newOrganization('alerts-fire');
    await admin.admin.organization.spendAlerts.create(alertBody(1));
    const never = await admin.admin.organization.spendAlerts.create(alertBody(1_000_000));
    // A key made before the project's alert takes it too; the project has no spend limit.
    const key = await keyOf(admin, project.id);
    await admin.admin.organization.projects.spendAlerts.create(
      project.id,
      alertBody(1, ['project-lead@alerts.test']),
    );
    const before = alertMail().length;
    // Every request in one UTC month (it ends on a minute's end): an alert is e-mailed once a
    // month, and a new month's first cent would cross it again.
    await clearOfMinuteBoundary(15_000);
    // Three requests at once cross the organization's one-cent alert together.
    await Promise.all([centOrMore(primary), centOrMore(primary), centOrMore(primary)]);
    await centOrMore(primary);
    const organizationMail = alertMail().slice(before);
    expect(organizationMail.map((m) => m.to).sort()).toEqual([...RECIPIENTS].sort());
    expect(organizationMail[0]?.subject).toMatch(
      /^\[alerts\] Tierline spend alert: \$0\.01 reached in \d{4}-\d{2}$/,
    );
    expect(organizationMail.every((m) => m.code !== never.id)).toBe(true);

    await Promise.all([centOrMore(key), centOrMore(key)]);
    const projectMail = alertMail().slice(before + organizationMail.length);
    expect(projectMail.map((m) => m.to)).toEqual(['project-lead@alerts.test']);
  });
});
