import { SESv2Client } from '@aws-sdk/client-sesv2';
import { mailSenderFromEnv } from '../mail/mail';
import { SesMailer } from '../mail/ses-mailer';
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
