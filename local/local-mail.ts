/** Local mode's mail file: its format and mailer live with the mail concern (lambda/mail/). */
export {
  appendLocalMail,
  type LocalMail,
  MAIL_SEPARATOR,
  readLocalMail,
} from '../lambda/mail/mail-file';
