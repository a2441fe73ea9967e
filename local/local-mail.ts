import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/** One message as local mode's mail file holds it (local mode's stand-in for e-mail). */
export interface LocalMail {
  to: string;
  subject: string;
  /** cognito-local's name for why it was sent: SignUp, ForgotPassword, ResendCode, ... */
  reason: string;
  code: string;
  /** The console page that takes the code, when local mode serves the console. */
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

/** Appends one message in the mail file's format (cognito-server.ts writes Cognito's the same way). */
export function appendLocalMail(mailFile: string, mail: LocalMail, body: string): void {
  appendFileSync(
    mailFile,
    `${MAIL_SEPARATOR}To: ${mail.to}\nSubject: ${mail.subject}\nDate: ${mail.sentAt}\n` +
      `${MAIL_HEADER}${JSON.stringify(mail)}\n\n${body}\n`,
  );
}
