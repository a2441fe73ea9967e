import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { Mail, Mailer } from './mail';

/** One message as local mode's mail file holds it (local mode's stand-in for e-mail). */
export interface LocalMail {
  to: string;
  subject: string;
  /** Why it was sent: cognito-local's SignUp, ForgotPassword, ...; Invite; a billing notice's kind. */
  reason: string;
  /** The code or token the message carries ('' for a notice). */
  code: string;
  /** The console page that takes the code, when there is one. */
  link?: string;
  sentAt: string;
}

export const MAIL_SEPARATOR = '\n----- message -----\n';
const MAIL_HEADER = 'X-Tierline-Mail: ';

/** The messages in a mail file, oldest first. */
export function readLocalMail(mailFile: string): LocalMail[] {
  if (!existsSync(mailFile)) return [];
  return readFileSync(mailFile, 'utf8')
    .split(MAIL_SEPARATOR)
    .map((block) => block.split('\n').find((line) => line.startsWith(MAIL_HEADER)))
    .filter((line): line is string => line !== undefined)
    .map((line) => JSON.parse(line.slice(MAIL_HEADER.length)) as LocalMail);
}

/**
 * Appends one message in the mail file's format (local/cognito-server.ts writes Cognito's the same
 * way). One synchronous append of the whole message: two senders at once never interleave lines.
 */
export function appendLocalMail(mailFile: string, mail: LocalMail, body: string): void {
  appendFileSync(
    mailFile,
    `${MAIL_SEPARATOR}To: ${mail.to}\nSubject: ${mail.subject}\nDate: ${mail.sentAt}\n` +
      `${MAIL_HEADER}${JSON.stringify(mail)}\n\n${body}\n`,
  );
}

/** What the mail file records beside the mail: why it was sent, and the code or link it carries. */
export interface MailFileTags {
  reason: string;
  code?: string;
  link?: string;
}

/**
 * Local mode's mailer: each mail appended to the mail file (where cognito-local's codes also go),
 * tagged so tests and people find it (`readLocalMail`).
 */
export class MailFileMailer implements Mailer {
  constructor(
    private readonly mailFile: string,
    private readonly tags: MailFileTags,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async send(mail: Mail): Promise<void> {
    const { reason, code = '', link } = this.tags;
    appendLocalMail(
      this.mailFile,
      {
        to: mail.to,
        subject: mail.subject,
        reason,
        code,
        ...(link ? { link } : {}),
        sentAt: this.now().toISOString(),
      },
      mail.text,
    );
  }
}
