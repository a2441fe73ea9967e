import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MAIL_SEPARATOR, MailFileMailer, readLocalMail } from '../../../lambda/mail/mail-file';

/** Local mode's mail file: invitations and billing's notices in the format cognito-local's mail uses. */
describe('the mail file', () => {
  it('appends each mail with why it was sent and its code, readable in the order sent', async () => {
    const mailFile = path.join(mkdtempSync(path.join(tmpdir(), 'tierline-mail-')), 'mail.txt');
    const at = () => new Date('2026-12-07T12:00:00.000Z');
    const invite = new MailFileMailer(
      mailFile,
      { reason: 'Invite', code: 'cus_1.invite-1.secret', link: 'http://localhost/#/invite' },
      at,
    );
    const notice = new MailFileMailer(mailFile, { reason: 'payment_failed' }, at);

    await invite.send({ to: 'a@example.com', subject: 'Invited', text: 'Open the link' });
    await notice.send({ to: 'b@example.com', subject: 'Grüße', text: 'Zahlung fehlgeschlagen' });

    expect(readLocalMail(mailFile)).toEqual([
      {
        to: 'a@example.com',
        subject: 'Invited',
        reason: 'Invite',
        code: 'cus_1.invite-1.secret',
        link: 'http://localhost/#/invite',
        sentAt: '2026-12-07T12:00:00.000Z',
      },
      {
        to: 'b@example.com',
        subject: 'Grüße',
        reason: 'payment_failed',
        code: '',
        sentAt: '2026-12-07T12:00:00.000Z',
      },
    ]);
    const bodies = readFileSync(mailFile, 'utf8').split(MAIL_SEPARATOR).slice(1);
    expect(bodies.map((b) => b.trimEnd().split('\n').at(-1))).toEqual([
      'Open the link',
      'Zahlung fehlgeschlagen',
    ]);
  });
});
