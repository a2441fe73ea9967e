import { SESv2Client } from '@aws-sdk/client-sesv2';
import { type MailFailureLog, mailSenderFromEnv, sendEmailInput, sendToEach } from '../mail/mail';
import { SesMailer } from '../mail/ses-mailer';
import type { SpendAlertMailer } from '../metering/spend-alert-rules';
import { awsClientOptions } from '../storage/aws-clients';

/**
 * SES in a function whose environment names a sender (`MAIL_FROM`, set with the `ses:SendEmail`
 * grant where the config has `mail`); undefined otherwise: the mail is then only logged. SES is
 * called in the function's region, where the identity must be verified.
 */
export function awsMailer(): SesMailer | undefined {
  const sender = mailSenderFromEnv();
  if (!sender) return undefined;
  return new SesMailer(new SESv2Client(awsClientOptions()), sender);
}

/**
 * Spend alert e-mails in a Lambda function: one message per recipient through SES where the
 * function names a sender. A refusal throws, so the alert's claim is released and the next settle
 * sends it again (a recipient already sent to may get it twice; none loses it). Without a sender
 * the mail is written to the log as SES input, marked not sent.
 */
export function awsSpendAlertMail(log: MailFailureLog | undefined): SpendAlertMailer {
  const mailer = awsMailer();
  return {
    send: (alert) =>
      sendToEach(
        mailer ?? {
          send: async (mail) =>
            log?.('spend alert e-mail (not sent: no sender in the config)', {
              alert: alert.alertId,
              sent: false,
              ses: sendEmailInput(mail, { from: 'alerts@tierline' }),
            }),
        },
        alert,
      ),
  };
}
