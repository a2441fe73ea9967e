import * as path from 'node:path';

/** Local mode's mail file: its format and mailer live with the mail concern (lambda/mail/). */
export {
  type LocalMail,
  MAIL_SEPARATOR,
  readLocalMail,
} from '../lambda/mail/mail-file';

/** The one mail file of a local mode's data folder: cognito-local, invitations, notices, alerts. */
export const localMailFile = (dataDir: string) => path.join(dataDir, 'mail.txt');
