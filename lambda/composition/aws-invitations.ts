import {
  CognitoIdentityProviderClient,
  GetUserCommand,
  NotAuthorizedException,
} from '@aws-sdk/client-cognito-identity-provider';
import type { InviteMail, UserDirectory } from '../accounts/invites';
import { SESSION_USER_POOL_ID_ENV } from '../accounts/session-settings';
import { awsClientOptions } from '../storage/aws-clients';
import type { Engines } from './engines';
import type { InvitationEngines } from './members';

/** The console's address, for the links in invitations (set by the API stack). */
export const CONSOLE_URL_ENV = 'CONSOLE_URL';

/**
 * The invited person's address as Cognito knows it: `GetUser` with the session's own access token
 * (Cognito authorizes the call by the token, not by IAM: the function needs no permission), so
 * only an address Cognito verified counts, and a signed-out token is refused there.
 */
export function cognitoUserDirectory(client: CognitoIdentityProviderClient): UserDirectory {
  return {
    async verifiedEmailOf(accessToken) {
      try {
        const user = await client.send(new GetUserCommand({ AccessToken: accessToken }));
        const attribute = (name: string) =>
          user.UserAttributes?.find((a) => a.Name === name)?.Value;
        return attribute('email_verified') === 'true' ? attribute('email') : undefined;
      } catch (error) {
        if (error instanceof NotAuthorizedException) return undefined;
        throw error;
      }
    },
  };
}

/**
 * The invitation as Amazon SES v2 `SendEmail` takes it (`Destination`, `Content.Simple`), as
 * billing's notices are (lambda/billing/billing-notices.ts).
 */
export function sesInviteMessage(mail: InviteMail, from: string) {
  return {
    FromEmailAddress: from,
    Destination: { ToAddresses: [mail.to] },
    Content: {
      Simple: {
        Subject: { Data: mail.subject, Charset: 'UTF-8' },
        Body: { Text: { Data: mail.text, Charset: 'UTF-8' } },
      },
    },
  };
}

/**
 * Invitations in a Lambda function: the user pool of the console's sessions and the console's
 * address from the environment (undefined without them: the routes answer 404). The e-mail is
 * written to the log as SES `SendEmail` input without the link's token, as billing's notices are:
 * this app verifies no SES sender identity, so it sends none (docs/decisions.md, "Members and
 * invites").
 */
export function awsInvitations(
  logError: Engines['logError'] | undefined,
): InvitationEngines | undefined {
  const userPoolId = process.env[SESSION_USER_POOL_ID_ENV];
  const consoleUrl = process.env[CONSOLE_URL_ENV];
  if (!userPoolId || !consoleUrl) return undefined;
  // A pool id starts with its region (`us-east-1_AbC...`).
  const region = userPoolId.split('_')[0];
  const cognito = new CognitoIdentityProviderClient({ ...awsClientOptions(), region });
  return {
    users: cognitoUserDirectory(cognito),
    consoleUrl: () => consoleUrl,
    mailer: {
      send: async (mail) => {
        const withoutToken = { ...mail, text: mail.text.replace(mail.token, '<token>') };
        logError?.('invitation e-mail (not sent: no SES identity)', {
          invite: mail.inviteId,
          ses: sesInviteMessage(withoutToken, 'invites@tierline'),
        });
      },
    },
  };
}
