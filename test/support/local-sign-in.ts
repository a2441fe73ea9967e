import {
  CognitoIdentityProviderClient,
  ConfirmSignUpCommand,
  InitiateAuthCommand,
  SignUpCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import OpenAI from 'openai';
import { MembershipsRepository } from '../../lambda/accounts/memberships';
import { type LocalMail, readLocalMail } from '../../local/local-cognito';
import { LOCAL_CUSTOMERS_TABLE, type LocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from './dynalite';

/** The password every test user of local mode's pool signs up with. */
export const TEST_PASSWORD = 'Correct-Horse-9-battery';

/** A client of local mode's user pool (cognito-local); the caller destroys it. */
export function localCognitoClient(local: LocalMode): CognitoIdentityProviderClient {
  return new CognitoIdentityProviderClient({
    endpoint: local.signIn?.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/**
 * A new user of local mode's pool, as a person makes one: signs up, verifies with the code from the
 * mail file (its sign-up mail, not an invitation sent to the same address), signs in with its
 * password. Answers the access token, the user's id and the verification mail it used.
 */
export async function signedInUser(
  local: LocalMode,
  email: string,
): Promise<{ token: string; userId: string; verification: LocalMail | undefined }> {
  const ClientId = local.signIn?.clientId ?? '';
  const cognito = localCognitoClient(local);
  try {
    const signUp = await cognito.send(
      new SignUpCommand({ ClientId, Username: email, Password: TEST_PASSWORD }),
    );
    const verification = readLocalMail(local.signIn?.mailFile ?? '').find(
      (m) => m.to === email && m.reason !== 'Invite',
    );
    await cognito.send(
      new ConfirmSignUpCommand({ ClientId, Username: email, ConfirmationCode: verification?.code }),
    );
    const auth = await cognito.send(
      new InitiateAuthCommand({
        ClientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: email, PASSWORD: TEST_PASSWORD },
      }),
    );
    return {
      token: auth.AuthenticationResult?.AccessToken ?? '',
      userId: signUp.UserSub ?? '',
      verification,
    };
  } finally {
    cognito.destroy();
  }
}

/**
 * A new user (`signedInUser`) made an owner of `organization` straight in local mode's table (as an
 * accepted invitation leaves it), and an openai client acting as that console session.
 */
export async function ownerSession(
  local: LocalMode,
  email: string,
  organization: string,
  fetch?: typeof globalThis.fetch,
): Promise<OpenAI> {
  const user = await signedInUser(local, email);
  const doc = localModeDocumentClient(local.dynamoEndpoint);
  try {
    await new MembershipsRepository(doc, LOCAL_CUSTOMERS_TABLE).put({
      userId: user.userId,
      customerId: organization,
      role: 'owner',
      email,
      createdAt: new Date().toISOString(),
    });
  } finally {
    doc.destroy();
  }
  return new OpenAI({
    apiKey: user.token,
    organization,
    baseURL: local.openAIBaseUrl,
    maxRetries: 0,
    ...(fetch ? { fetch } : {}),
  });
}
