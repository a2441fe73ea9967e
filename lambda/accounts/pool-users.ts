import { AuthenticationError } from '../openai/errors';
import type { UserDirectory } from './invites';
import { SESSION_REJECTED } from './session-tokens';
import type { PoolUser } from './sign-up';

/** Cognito's user-pool API in a region (the endpoint its JSON 1.1 API answers on). */
export const cognitoEndpoint = (userPoolId: string) =>
  `https://cognito-idp.${userPoolId.slice(0, userPoolId.indexOf('_'))}.amazonaws.com/`;

/** Bounds the call: sign-up waits on it, and the API function has 29 s in all. */
const GET_USER_TIMEOUT_MS = 5_000;

/**
 * The signed-in user's address and whether the pool verified it: Cognito's `GetUser`, called with
 * the user's own access token. It takes no AWS credentials (the token authorizes it), so the API
 * function needs no IAM action for it, and a token Cognito revoked (sign-out) is refused here
 * even while its signature still verifies.
 */
export function poolUserReader(endpoint: string) {
  return async (accessToken: string): Promise<PoolUser> => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AWSCognitoIdentityProviderService.GetUser',
      },
      body: JSON.stringify({ AccessToken: accessToken }),
      signal: AbortSignal.timeout(GET_USER_TIMEOUT_MS),
    });
    const body = (await response.json().catch(() => ({}))) as {
      __type?: string;
      UserAttributes?: { Name?: string; Value?: string }[];
    };
    if (!response.ok) {
      // NotAuthorizedException: the token was revoked or expired; UserNotFound: the user is gone.
      if (response.status === 400 && /NotAuthorized|UserNotFound/.test(body.__type ?? '')) {
        throw new AuthenticationError(SESSION_REJECTED);
      }
      throw new Error(`Cognito GetUser answered ${response.status} ${body.__type ?? ''}`);
    }
    const attribute = (name: string) => body.UserAttributes?.find((a) => a.Name === name)?.Value;
    return { email: attribute('email'), emailVerified: attribute('email_verified') === 'true' };
  };
}

/**
 * The invites' view of the same call: the session's address when the pool verified it, so an
 * invite is accepted only by the address it was sent to (a revoked token: 401, as in sign-up).
 */
export function verifiedEmailDirectory(
  poolUser: (accessToken: string) => Promise<PoolUser>,
): UserDirectory {
  return {
    async verifiedEmailOf(accessToken) {
      const user = await poolUser(accessToken);
      return user.emailVerified ? user.email : undefined;
    },
  };
}
