/**
 * One e-mail as Tierline sends it: plain text, one recipient. Invitations and billing's notices
 * are both this; SES sends it in AWS (`ses-mailer.ts`), local mode writes it to its mail file.
 */
export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(mail: Mail): Promise<void>;
}

/**
 * One message to several recipients sent as every Tierline mail is: one `Mail` a recipient, in
 * order, so no recipient learns the others' addresses. A refusal stops the rest and throws.
 */
export async function sendToEach(
  mailer: Mailer,
  message: { to: readonly string[]; subject: string; text: string },
): Promise<void> {
  for (const to of message.to)
    await mailer.send({ to, subject: message.subject, text: message.text });
}

/** Who sends: an address at the SES identity the operator verified, and SES's configuration set. */
export interface MailSender {
  /** `Tierline <no-reply@example.com>` or a bare address. */
  from: string;
  configurationSet?: string;
}

/** Set by the CDK (lib/constructs/mail-sending.ts) on each function that sends, with the grant. */
export const MAIL_FROM_ENV = 'MAIL_FROM';
export const MAIL_CONFIGURATION_SET_ENV = 'MAIL_CONFIGURATION_SET';

/** The sender named by the function's environment; undefined where the config names none. */
export function mailSenderFromEnv(env: NodeJS.ProcessEnv = process.env): MailSender | undefined {
  const from = env[MAIL_FROM_ENV];
  if (!from) return undefined;
  const configurationSet = env[MAIL_CONFIGURATION_SET_ENV];
  return configurationSet ? { from, configurationSet } : { from };
}

/**
 * The mail as Amazon SES v2 `SendEmail` takes it: a simple (not raw) message whose subject and
 * text SES encodes as UTF-8, and the configuration set only when there is one (SES refuses an
 * empty name).
 */
export function sendEmailInput(mail: Mail, sender: MailSender) {
  return {
    FromEmailAddress: sender.from,
    Destination: { ToAddresses: [mail.to] },
    Content: {
      Simple: {
        Subject: { Data: mail.subject, Charset: 'UTF-8' },
        Body: { Text: { Data: mail.text, Charset: 'UTF-8' } },
      },
    },
    ...(sender.configurationSet ? { ConfigurationSetName: sender.configurationSet } : {}),
  };
}

/** What a refused or failed mail is logged with: which invite or notice it carried. */
export type MailFailureLog = (message: string, details: Record<string, unknown>) => void;

/**
 * Sends, and logs a failure instead of throwing it: every caller sends after its state change is
 * stored (an invite written, a payment state moved), so throwing would answer a 5xx for work
 * that was done, and a retry would not send again (the move is made once). SES's own errors
 * (`MessageRejected`, `MailFromDomainNotVerifiedException`, an account still in the sandbox
 * refusing an unverified recipient, `SendingPausedException`) are named in the log. Answers
 * whether the mail left.
 */
export async function sendOrLog(
  mailer: Mailer,
  mail: Mail,
  about: Record<string, string>,
  logError: MailFailureLog,
): Promise<boolean> {
  try {
    await mailer.send(mail);
    return true;
  } catch (error) {
    logError('e-mail not sent', {
      ...about,
      error: error instanceof Error ? error.name : 'unknown',
      reason: error instanceof Error ? error.message : String(error),
    });
    return false;
  }
}
