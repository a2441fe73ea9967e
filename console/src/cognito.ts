/**
 * The console's Cognito client: the user pool's JSON API (`X-Amz-Target:
 * AWSCognitoIdentityProviderService.<Action>`) with `fetch`, no SDK, so the bundle stays small. The
 * same calls reach cognito-local in local mode and the pool in AWS; the endpoint and app client come
 * from the console's runtime config (`/console-config.json`). The client is public (no secret):
 * USER_PASSWORD_AUTH and refresh, as lib/constructs/accounts/console-users.ts sets it.
 */

export interface CognitoSettings {
  /** The pool's API endpoint (`https://cognito-idp.<region>.amazonaws.com/`, or local mode's). */
  endpoint: string;
  clientId: string;
}

export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds when the access token expires. */
  expiresAt: number;
}

/** A signed-in session as the console keeps it (console/src/session.ts). */
export interface SavedSession extends SessionTokens {
  email: string;
  /** The organization the console acts for (`OpenAI-Organization`); absent until one is chosen. */
  organization?: string;
}

/** A refusal by the pool, with Cognito's exception name (`NotAuthorizedException`, ...). */
export class CognitoError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'CognitoError';
  }
}

/** Words for a refusal, for people. */
export function explainCognito(error: CognitoError): string {
  switch (error.type) {
    case 'NotAuthorizedException':
      return 'The e-mail address or password is not right.';
    case 'UserNotConfirmedException':
      return 'Verify your e-mail address first: enter the code we sent you.';
    case 'UsernameExistsException':
      return 'An account with this e-mail address exists: sign in, or reset its password.';
    case 'CodeMismatchException':
    case 'ExpiredCodeException':
      return 'The code is not right or has expired: check the latest e-mail, or ask for a new code.';
    case 'InvalidPasswordException':
      return 'Choose a password of at least 12 characters with upper and lower case letters, a digit and a symbol.';
    case 'UserNotFoundException':
      return 'No account uses this e-mail address: sign up first.';
    case 'LimitExceededException':
    case 'TooManyRequestsException':
      return 'Too many attempts: wait a few minutes and try again.';
    default:
      return error.message || 'The sign-in service refused the request.';
  }
}

interface AuthenticationResult {
  AccessToken?: string;
  RefreshToken?: string;
  ExpiresIn?: number;
}

export class CognitoClient {
  constructor(
    private readonly settings: CognitoSettings,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
    private readonly now: () => number = () => Date.now(),
  ) {}

  private async call<T>(action: string, body: Record<string, unknown>): Promise<T> {
    const response = await this.fetchImpl(this.settings.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify({ ClientId: this.settings.clientId, ...body }),
    });
    const answer = (await response.json().catch(() => ({}))) as T & {
      __type?: string;
      message?: string;
    };
    if (!response.ok) {
      // `__type` may carry a namespace (`com.amazonaws...#NotAuthorizedException`).
      const type = (answer.__type ?? 'UnknownError').split('#').pop() ?? 'UnknownError';
      throw new CognitoError(type, answer.message ?? `Cognito answered HTTP ${response.status}`);
    }
    return answer;
  }

  signUp = (email: string, password: string) =>
    this.call('SignUp', {
      Username: email,
      Password: password,
      UserAttributes: [{ Name: 'email', Value: email }],
    });
  confirmSignUp = (email: string, code: string) =>
    this.call('ConfirmSignUp', { Username: email, ConfirmationCode: code });
  resendCode = (email: string) => this.call('ResendConfirmationCode', { Username: email });
  forgotPassword = (email: string) => this.call('ForgotPassword', { Username: email });
  confirmForgotPassword = (email: string, code: string, password: string) =>
    this.call('ConfirmForgotPassword', {
      Username: email,
      ConfirmationCode: code,
      Password: password,
    });

  async signIn(email: string, password: string): Promise<SessionTokens> {
    const { AuthenticationResult: result } = await this.call<{
      AuthenticationResult?: AuthenticationResult;
    }>('InitiateAuth', {
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
    return this.tokensOf(result, undefined);
  }

  /** New access token from the refresh token (Cognito keeps the refresh token the same). */
  async refresh(refreshToken: string): Promise<SessionTokens> {
    const { AuthenticationResult: result } = await this.call<{
      AuthenticationResult?: AuthenticationResult;
    }>('InitiateAuth', {
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      AuthParameters: { REFRESH_TOKEN: refreshToken },
    });
    return this.tokensOf(result, refreshToken);
  }

  /** Sign-out: the refresh token revoked, so a copy of it cannot make new access tokens. */
  revoke = (refreshToken: string) => this.call('RevokeToken', { Token: refreshToken });

  private tokensOf(
    result: AuthenticationResult | undefined,
    refreshToken: string | undefined,
  ): SessionTokens {
    const accessToken = result?.AccessToken;
    const refresh = result?.RefreshToken ?? refreshToken;
    if (!accessToken || !refresh) {
      throw new CognitoError(
        'UnexpectedChallenge',
        'The sign-in needs a step this console does not offer.',
      );
    }
    return {
      accessToken,
      refreshToken: refresh,
      expiresAt: this.now() + (result?.ExpiresIn ?? 3600) * 1000,
    };
  }
}
