import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { cognitoUserDirectory } from '../lambda/composition/aws-invitations';
import type { InvitationEngines } from '../lambda/composition/members';
import type { LocalCognito } from './local-cognito';
import { appendLocalMail } from './local-mail';

/**
 * Local mode's invitations: the mail goes to the mail file beside cognito-local's (the token as the
 * message's code, the console link with it), and the invited person's verified address comes from
 * cognito-local's `GetUser`, as from Cognito's in AWS. Both are known only once local mode listens
 * and its user pool runs, so they are read then; without a user pool the mail goes to the log.
 */
export function localInvitations(parts: {
  signIn: () => LocalCognito | undefined;
  consoleUrl: () => string;
  log?: (line: string) => void;
}): InvitationEngines {
  let client: { endpoint: string; cognito: CognitoIdentityProviderClient } | undefined;
  const cognitoOf = (signIn: LocalCognito) => {
    if (client?.endpoint !== signIn.endpoint) {
      client?.cognito.destroy();
      const cognito = new CognitoIdentityProviderClient({
        endpoint: signIn.endpoint,
        region: 'local',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      client = { endpoint: signIn.endpoint, cognito };
    }
    return client.cognito;
  };
  return {
    consoleUrl: parts.consoleUrl,
    users: {
      verifiedEmailOf: async (accessToken) => {
        const signIn = parts.signIn();
        if (!signIn) return undefined;
        return cognitoUserDirectory(cognitoOf(signIn)).verifiedEmailOf(accessToken);
      },
    },
    mailer: {
      send: async (mail) => {
        const mailFile = parts.signIn()?.mailFile;
        if (!mailFile) {
          parts.log?.(`invitation e-mail to ${mail.to}: ${mail.link}`);
          return;
        }
        const sentAt = new Date().toISOString();
        appendLocalMail(
          mailFile,
          {
            to: mail.to,
            subject: mail.subject,
            reason: 'Invite',
            code: mail.token,
            link: mail.link,
            sentAt,
          },
          mail.text,
        );
      },
    },
  };
}
