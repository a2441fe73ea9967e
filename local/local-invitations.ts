import {
  AdminGetUserCommand,
  CognitoIdentityProviderClient,
  GetUserCommand,
} from '@aws-sdk/client-cognito-identity-provider';
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
    consoleUrl: () => at.consoleUrl,
    users: {
      verifiedEmailOf: async (accessToken) => {
        const signIn = at.signIn;
        if (!signIn) return undefined;
        return confirmedEmailOf(cognitoOf(signIn), signIn.userPoolId, accessToken);
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

/**
 * The user's address once their sign-up is confirmed. Cognito marks the address verified when the
 * code mailed to it confirms the sign-up (the pool auto-verifies e-mail); cognito-local 5.3.0
 * leaves `email_verified` unset then (its ConfirmSignUp sets only the status), so here a confirmed
 * user's address counts as verified, which is what it is: the code reached it.
 */
async function confirmedEmailOf(
  cognito: CognitoIdentityProviderClient,
  userPoolId: string,
  accessToken: string,
): Promise<string | undefined> {
  try {
    const user = await cognito.send(new GetUserCommand({ AccessToken: accessToken }));
    const admin = await cognito.send(
      new AdminGetUserCommand({ UserPoolId: userPoolId, Username: user.Username }),
    );
    const email = user.UserAttributes?.find((a) => a.Name === 'email')?.Value;
    return admin.UserStatus === 'CONFIRMED' ? email : undefined;
  } catch (error) {
    if ((error as Error).name === 'NotAuthorizedException') return undefined;
    throw error;
  }
}
