import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { type Mail, type Mailer, type MailSender, sendEmailInput } from './mail';

/**
 * Mail through Amazon SES v2 `SendEmail`, from the identity the operator verified (its ARN is the
 * one resource the function's role may send from). Throttling and 5xx answers are retried by the
 * SDK's standard retry strategy; what SES refuses is thrown (callers use `sendOrLog`).
 */
export class SesMailer implements Mailer {
  constructor(
    private readonly client: Pick<SESv2Client, 'send'>,
    private readonly sender: MailSender,
  ) {}

  async send(mail: Mail): Promise<void> {
    await this.client.send(new SendEmailCommand(sendEmailInput(mail, this.sender)));
  }
}
