import {
  CognitoIdentityProviderClient,
  GetUserCommand,
  NotAuthorizedException,
} from '@aws-sdk/client-cognito-identity-provider';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  CONSOLE_URL_PARAMETER_ENV,
  type InviteMail,
  type UserDirectory,
} from '../accounts/invites';
import { awsClientOptions } from '../storage/aws-clients';
import type { Engines } from './engines';
import type { InvitationEngines } from './members';

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

/** The console's address from its SSM parameter, read on the first invite and kept. */
export function consoleUrlFrom(ssm: SSMClient, name: string): () => Promise<string> {
  let read: Promise<string> | undefined;
  return () => {
    read ??= readConsoleUrl(ssm, name).catch((error: unknown) => {
      read = undefined;
      throw error;
    });
    return read;
  };
}

async function readConsoleUrl(ssm: SSMClient, name: string): Promise<string> {
  const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
  if (!Parameter?.Value) throw new Error(`SSM parameter ${name} has no value`);
  // `https://<id>.cloudfront.net/`: the page's hash route follows the slash.
  return Parameter.Value;
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
 * Invitations in a Lambda function: the console's address's parameter from the environment
 * (undefined without it: the routes answer 404). The e-mail is written to the log as SES
 * `SendEmail` input without the link's token, as billing's notices are: this app verifies no SES
 * sender identity, so it sends none (docs/decisions.md, "Members and invites").
 */
export function awsInvitations(
  logError: Engines['logError'] | undefined,
): InvitationEngines | undefined {
  const consoleUrlParameter = process.env[CONSOLE_URL_PARAMETER_ENV];
  if (!consoleUrlParameter) return undefined;
  // GetUser goes to the pool's region, which is the function's (one app, one region).
  const cognito = new CognitoIdentityProviderClient(awsClientOptions());
  return {
    users: cognitoUserDirectory(cognito),
    consoleUrl: consoleUrlFrom(new SSMClient(awsClientOptions()), consoleUrlParameter),
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
