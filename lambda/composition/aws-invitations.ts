import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CONSOLE_URL_PARAMETER_ENV, type InviteMail } from '../accounts/invites';
import { cognitoEndpoint, poolUserReader, verifiedEmailDirectory } from '../accounts/pool-users';
import { SESSION_USER_POOL_ID_ENV } from '../accounts/session-settings';
import { type Mailer, sendEmailInput, sendOrLog } from '../mail/mail';
import { awsClientOptions } from '../storage/aws-clients';
import { awsMailer } from './aws-mail';
import type { Engines } from './engines';
import type { InvitationEngines } from './members';

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
 * The invitation's mailer: SES where the function's environment names a sender, the log (as SES
 * `SendEmail` input, without the link's token) where it does not. A failed send is logged with the
 * invite's id and the invite still answered: it is stored, and the owner sends a new link by
 * creating the invite again (same id, a new token).
 */
export function inviteMailer(mailer: Mailer | undefined, logError: Engines['logError']) {
  return {
    send: async (mail: InviteMail) => {
      const about = { invite: mail.inviteId, customer: mail.customerId };
      if (mailer) {
        await sendOrLog(mailer, mail, about, logError);
        return;
      }
      const withoutToken = { ...mail, text: mail.text.replace(mail.token, '<token>') };
      logError('invitation e-mail (not sent: the config names no SES sender)', {
        ...about,
        ses: sendEmailInput(withoutToken, { from: '(no sender configured)' }),
      });
    },
  };
}

/**
 * Invitations in a Lambda function: the console's address's parameter from the environment
 * (undefined without it: the routes answer 404), the mail through SES when the config names a
 * sender (docs/operating.md, "E-mail through Amazon SES").
 */
export function awsInvitations(
  logError: Engines['logError'] | undefined,
): InvitationEngines | undefined {
  const consoleUrlParameter = process.env[CONSOLE_URL_PARAMETER_ENV];
  if (!consoleUrlParameter) return undefined;
  const userPoolId = process.env[SESSION_USER_POOL_ID_ENV];
  if (!userPoolId) return undefined;
  return {
    // The invited person's verified address: Cognito's GetUser with their own token, as sign-up
    // reads it (no IAM: the token authorizes the call).
    users: verifiedEmailDirectory(poolUserReader(cognitoEndpoint(userPoolId))),
    consoleUrl: consoleUrlFrom(new SSMClient(awsClientOptions()), consoleUrlParameter),
    mailer: inviteMailer(awsMailer(), logError ?? (() => undefined)),
  };
}
