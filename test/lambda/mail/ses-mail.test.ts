import {
  AccountSuspendedException,
  MessageRejected,
  SESv2Client,
  SendEmailCommand,
} from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { Invites } from '../../../lambda/accounts/invites';
import { InvitesRepository } from '../../../lambda/accounts/invites-repository';
import { MembershipsRepository } from '../../../lambda/accounts/memberships';
import { OrganizationOwners } from '../../../lambda/accounts/organization-owners';
import { billingNotice } from '../../../lambda/billing/billing-notices';
import { billingNoticesBy } from '../../../lambda/composition/aws-billing';
import { inviteMailer } from '../../../lambda/composition/aws-invitations';
import { awsSpendAlertMail } from '../../../lambda/composition/aws-mail';
import {
  MAIL_CONFIGURATION_SET_ENV,
  MAIL_FROM_ENV,
  mailSenderFromEnv,
  sendOrLog,
} from '../../../lambda/mail/mail';
import { SesMailer } from '../../../lambda/mail/ses-mailer';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

const FROM = 'Tierline <no-reply@example.com>';

/**
 * Mail through Amazon SES v2 with the SESv2 client mocked (SES cannot run here): the exact
 * `SendEmail` requests of invitations and billing's notices, and SES's refusals logged with the
 * invite or notice they carried while the call that stored the state change still succeeds.
 */
describe('e-mail through SES v2', () => {
  const ses = mockClient(SESv2Client);
  const client = () => new SESv2Client({ region: 'us-east-1' });
  const sentInputs = () => ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input);
  let logged: [string, Record<string, unknown>][];
  const logError = (message: string, details: Record<string, unknown>) =>
    void logged.push([message, details]);
  beforeEach(() => {
    ses.reset();
    logged = [];
  });

  it('e-mails a spend alert to each recipient, throws a refusal (the claim is released), logs without a sender', async () => {
    const alert = {
      alertId: 'alert_1',
      to: ['a@example.com', 'b@example.com'],
      subject: 'Spend alert',
      text: 'Your organization has spent $50.00 this month.',
    };
    const message = (to: string) => ({
      FromEmailAddress: FROM,
      Destination: { ToAddresses: [to] },
      Content: {
        Simple: {
          Subject: { Data: alert.subject, Charset: 'UTF-8' },
          Body: { Text: { Data: alert.text, Charset: 'UTF-8' } },
        },
      },
    });
    const saved = process.env[MAIL_FROM_ENV];
    try {
      process.env[MAIL_FROM_ENV] = FROM;
      ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
      await awsSpendAlertMail(logError).send(alert);
      expect(sentInputs()).toEqual([message('a@example.com'), message('b@example.com')]);

      ses.reset();
      ses.on(SendEmailCommand).rejects(new MessageRejected({ message: 'no', $metadata: {} }));
      await expect(awsSpendAlertMail(logError).send(alert)).rejects.toBeInstanceOf(MessageRejected);

      ses.reset();
      delete process.env[MAIL_FROM_ENV];
      await awsSpendAlertMail(logError).send(alert);
      expect(sentInputs()).toEqual([]);
      expect(logged.map(([, details]) => [details.alert, details.sent])).toEqual([
        ['alert_1', false],
        ['alert_1', false],
      ]);
    } finally {
      if (saved === undefined) delete process.env[MAIL_FROM_ENV];
      else process.env[MAIL_FROM_ENV] = saved;
    }
  });

  it('sends a simple UTF-8 message from the sender, to the one recipient, with the configuration set', async () => {
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    const withSet = new SesMailer(client(), { from: FROM, configurationSet: 'tierline-mail' });
    const withoutSet = new SesMailer(client(), { from: 'no-reply@example.com' });

    await withSet.send({ to: 'a@example.com', subject: 'Grüße', text: 'Zahlung – erhalten ✓' });
    await withoutSet.send({ to: 'b@example.com', subject: 'Hi', text: 'Body' });

    expect(sentInputs()).toEqual([
      {
        FromEmailAddress: FROM,
        Destination: { ToAddresses: ['a@example.com'] },
        Content: {
          Simple: {
            Subject: { Data: 'Grüße', Charset: 'UTF-8' },
            Body: { Text: { Data: 'Zahlung – erhalten ✓', Charset: 'UTF-8' } },
          },
        },
        ConfigurationSetName: 'tierline-mail',
      },
      {
        FromEmailAddress: 'no-reply@example.com',
        Destination: { ToAddresses: ['b@example.com'] },
        Content: {
          Simple: {
            Subject: { Data: 'Hi', Charset: 'UTF-8' },
            Body: { Text: { Data: 'Body', Charset: 'UTF-8' } },
          },
        },
      },
    ]);
  });

  it("reads the sender from the function's environment, and none without MAIL_FROM", () => {
    expect(mailSenderFromEnv({})).toBeUndefined();
    expect(mailSenderFromEnv({ [MAIL_FROM_ENV]: FROM })).toEqual({ from: FROM });
    expect(
      mailSenderFromEnv({ [MAIL_FROM_ENV]: FROM, [MAIL_CONFIGURATION_SET_ENV]: 'tierline-mail' }),
    ).toEqual({ from: FROM, configurationSet: 'tierline-mail' });
  });

  it("logs SES's refusal with what the mail carried, and answers false instead of throwing", async () => {
    ses
      .on(SendEmailCommand)
      .rejectsOnce(
        new MessageRejected({
          message: 'Email address is not verified. The following identities failed the check',
          $metadata: { httpStatusCode: 400 },
        }),
      )
      .rejectsOnce(new AccountSuspendedException({ message: 'suspended', $metadata: {} }))
      .resolves({ MessageId: 'm-2' });
    const mailer = new SesMailer(client(), { from: FROM });
    const mail = { to: 'a@example.com', subject: 'S', text: 'T' };

    expect(await sendOrLog(mailer, mail, { invite: 'invite-1' }, logError)).toBe(false);
    expect(await sendOrLog(mailer, mail, { invite: 'invite-2' }, logError)).toBe(false);
    expect(await sendOrLog(mailer, mail, { invite: 'invite-3' }, logError)).toBe(true);
    expect(logged).toEqual([
      [
        'e-mail not sent',
        {
          invite: 'invite-1',
          error: 'MessageRejected',
          reason: 'Email address is not verified. The following identities failed the check',
        },
      ],
      [
        'e-mail not sent',
        { invite: 'invite-2', error: 'AccountSuspendedException', reason: 'suspended' },
      ],
    ]);
  });

  describe('invitations (dynalite)', () => {
    let dynamo: LocalDynamo;
    let deps: ConstructorParameters<typeof Invites>[0];
    let invites: Invites;
    let repository: InvitesRepository;

    beforeAll(async () => {
      dynamo = await startDynalite();
      const { tableName } = await newCustomersTable(dynamo);
      const doc = createDocumentClient(dynamo.client);
      const memberships = new MembershipsRepository(doc, tableName);
      repository = new InvitesRepository(doc, tableName);
      deps = {
        invites: repository,
        memberships,
        owners: new OrganizationOwners(doc, tableName, memberships),
        mailer: inviteMailer(new SesMailer(client(), { from: FROM }), logError),
        users: { verifiedEmailOf: async () => undefined },
        consoleUrl: () => 'https://d1.cloudfront.net/',
        organizationActive: async () => true,
        now: () => new Date('2026-12-07T12:00:00.000Z'),
      };
      invites = new Invites(deps);
    });
    afterAll(() => dynamo.stop());

    it('keeps the invite when SES refuses its mail, and sends a new link when the owner invites again', async () => {
      ses
        .on(SendEmailCommand)
        .rejectsOnce(new MessageRejected({ message: 'sandbox', $metadata: {} }))
        .resolves({ MessageId: 'm-3' });
      const input = { email: 'new@example.com', role: 'member' as const, invitedBy: 'u-owner' };

      const first = await invites.create('cus_mail1', input);
      expect(await repository.list('cus_mail1')).toEqual([
        expect.objectContaining({ inviteId: first.inviteId }),
      ]);
      expect(logged).toEqual([
        [
          'e-mail not sent',
          {
            invite: first.inviteId,
            customer: 'cus_mail1',
            error: 'MessageRejected',
            reason: 'sandbox',
          },
        ],
      ]);

      const again = await invites.create('cus_mail1', input);
      expect(again.inviteId).toBe(first.inviteId);
      const [, second] = sentInputs();
      const text = second?.Content?.Simple?.Body?.Text?.Data ?? '';
      const token = /#\/invite\?token=([^ ]+) /.exec(text)?.[1] ?? '';
      expect(decodeURIComponent(token)).toMatch(
        new RegExp(`^cus_mail1\\.${first.inviteId}\\.[0-9A-Za-z]{43}$`),
      );
      expect(second).toEqual({
        FromEmailAddress: FROM,
        Destination: { ToAddresses: ['new@example.com'] },
        Content: {
          Simple: {
            Subject: { Data: 'You are invited to a Tierline organization', Charset: 'UTF-8' },
            Body: {
              Text: {
                Data:
                  'You are invited to join organization cus_mail1 on Tierline as a member. Sign in ' +
                  '(or sign up) with this address, then open ' +
                  `https://d1.cloudfront.net/#/invite?token=${token} . The link works once, for seven days.`,
                Charset: 'UTF-8',
              },
            },
          },
        },
      });
      expect(logged).toHaveLength(1);
    });

    it('logs the mail without its token when no sender is configured, and sends nothing', async () => {
      const unsent = new Invites({ ...deps, mailer: inviteMailer(undefined, logError) });
      const invite = await unsent.create('cus_mail2', {
        email: 'x@example.com',
        role: 'owner',
        invitedBy: 'u-owner',
      });
      expect(sentInputs()).toEqual([]);
      expect(logged).toEqual([
        [
          'invitation e-mail (not sent: the config names no SES sender)',
          expect.objectContaining({ invite: invite.inviteId, customer: 'cus_mail2' }),
        ],
      ]);
      expect(JSON.stringify(logged)).toContain('#/invite?token=<token> .');
      expect(JSON.stringify(logged)).not.toMatch(/token=cus_mail2/);
    });
  });

  describe("billing's notices", () => {
    const notice = billingNotice('payment_failed', {
      customerId: 'cus_bill1',
      to: 'owner@example.com',
      limitAt: '2026-12-14T12:00:00.000Z',
    });

    it('sends each notice through SES with its words', async () => {
      ses.on(SendEmailCommand).resolves({ MessageId: 'm-4' });
      const info: unknown[] = [];
      const notices = billingNoticesBy(
        new SesMailer(client(), { from: FROM, configurationSet: 'billing' }),
        { log: (line) => void info.push(line), logError },
      );

      await notices.send(notice);

      expect(sentInputs()).toEqual([
        {
          FromEmailAddress: FROM,
          Destination: { ToAddresses: ['owner@example.com'] },
          Content: {
            Simple: {
              Subject: { Data: 'Tierline: your payment failed', Charset: 'UTF-8' },
              Body: { Text: { Data: notice.text, Charset: 'UTF-8' } },
            },
          },
          ConfigurationSetName: 'billing',
        },
      ]);
      expect(notice.text).toContain('stay until 2026-12-14T12:00:00.000Z');
      expect([info, logged]).toEqual([[], []]);
    });

    it('logs a refused notice with its organization and kind, and returns normally', async () => {
      ses.on(SendEmailCommand).rejects(new MessageRejected({ message: 'rejected', $metadata: {} }));
      const notices = billingNoticesBy(new SesMailer(client(), { from: FROM }), {
        log: () => undefined,
        logError,
      });

      await expect(notices.send(notice)).resolves.toBeUndefined();
      expect(logged).toEqual([
        [
          'e-mail not sent',
          {
            billingNotice: 'payment_failed',
            customer: 'cus_bill1',
            error: 'MessageRejected',
            reason: 'rejected',
          },
        ],
      ]);
    });

    it('writes the notice to the log as SES input, marked unsent, without a sender', async () => {
      const info: unknown[] = [];
      await billingNoticesBy(undefined, { log: (line) => void info.push(line), logError }).send(
        notice,
      );
      expect(sentInputs()).toEqual([]);
      expect(info).toEqual([
        {
          billingNotice: 'payment_failed',
          customer: 'cus_bill1',
          sent: false,
          ses: expect.objectContaining({ Destination: { ToAddresses: ['owner@example.com'] } }),
        },
      ]);
    });
  });
});
