import { poolUserReader, verifiedEmailDirectory } from '../lambda/accounts/pool-users';
import type { InvitationEngines } from '../lambda/composition/members';
import { MailFileMailer } from '../lambda/mail/mail-file';
import type { LocalCognito } from './local-cognito';

/**
 * Local mode's invitations: the mail goes to the mail file beside cognito-local's (the token as the
 * message's code, the console link with it), and the invited person's verified address comes from
 * cognito-local's `GetUser`, as from Cognito's in AWS. Both are known only once local mode listens
 * and its user pool runs, so they are read then; without a user pool the mail goes to the log.
 */
export interface InvitationsAt {
  signIn?: LocalCognito;
  consoleUrl: string;
}

export function localInvitations(
  at: InvitationsAt,
  log?: (line: string) => void,
): InvitationEngines {
  return {
    consoleUrl: () => at.consoleUrl,
    users: {
      // cognito-local's GetUser, as Cognito's in AWS (local/cognito-server.ts marks a confirmed
      // address verified, as Cognito does).
      verifiedEmailOf: async (accessToken) => {
        const signIn = at.signIn;
        if (!signIn) return undefined;
        return verifiedEmailDirectory(poolUserReader(signIn.endpoint)).verifiedEmailOf(accessToken);
      },
    },
    mailer: {
      send: async (mail) => {
        const mailFile = at.signIn?.mailFile;
        if (!mailFile) {
          log?.(`invitation e-mail to ${mail.to}: ${mail.link}`);
          return;
        }
        const tags = { reason: 'Invite', code: mail.token, link: mail.link };
        await new MailFileMailer(mailFile, tags).send(mail);
      },
    },
  };
}
