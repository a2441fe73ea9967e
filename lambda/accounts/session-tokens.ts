import { CognitoJwtVerifier, JwtRsaVerifier } from 'aws-jwt-verify';
import { FetchError, JwtBaseError } from 'aws-jwt-verify/error';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { AuthenticationError } from '../openai/errors';
import type { SessionTokenSettings } from './session-settings';

/** What a verified console session says about its user. */
export interface SessionClaims {
  /** Cognito's `sub`: the user's stable id (an e-mail address can change). */
  userId: string;
  /** When the token expires (seconds since the epoch, the `exp` claim). */
  expiresAt: number;
}

/** Verifies a console access token; rejects any other token with {@link AuthenticationError}. */
export type SessionVerifier = (token: string) => Promise<SessionClaims>;

/**
 * Whether a bearer token is shaped like a JWT (three base64url parts, a JSON header), so the
 * authorizer sends it to the session verifier and never to the key table. API keys start `tl_`.
 */
export function isJwtShaped(token: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(token);
}

/**
 * A verifier of the console's Cognito access tokens. aws-jwt-verify checks the signature against
 * the pool's JWKS, `exp`, the issuer, `token_use` = access and `client_id` = the console's client
 * (README of aws-jwt-verify 5.2.1: "Verifying JWTs from Amazon Cognito"). The JWKS is fetched once
 * per process and cached in memory (again only when a token names an unknown `kid`, at most once
 * per the library's wait period), so a verification costs no network call: issue 22, item 8.
 *
 * The access token, not the ID token: it is the one Cognito meant for calling APIs, and revoking
 * a refresh token (sign-out with `RevokeToken`) invalidates the access tokens issued from it for
 * Cognito's own APIs; a self-verified token still lives until `exp` (one hour, set on the client
 * in lib/constructs/accounts/console-users.ts).
 */
export function createSessionVerifier(settings: SessionTokenSettings): SessionVerifier {
  const verify =
    settings.kind === 'cognito'
      ? cognitoVerifier(settings.userPoolId, settings.clientId)
      : localVerifier(settings.issuer, settings.jwksUri, settings.clientId);
  return async (token) => {
    if (!isJwtShaped(token)) throw new AuthenticationError(SESSION_REJECTED);
    let payload: { sub?: unknown; exp?: unknown };
    try {
      payload = await verify(token);
    } catch (error) {
      // The JWKS could not be fetched: our fault, not the token's; the caller answers 5xx.
      if (error instanceof FetchError || error instanceof AuthenticationError) throw error;
      if (error instanceof JwtBaseError) throw new AuthenticationError(SESSION_REJECTED);
      throw error;
    }
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') {
      throw new AuthenticationError(SESSION_REJECTED);
    }
    return { userId: payload.sub, expiresAt: payload.exp };
  };
}

/** One message for every rejected session, so a caller learns nothing about why. */
export const SESSION_REJECTED = 'Your session has expired or is not valid: sign in again.';

type Verify = (token: string) => Promise<{ sub?: unknown; exp?: unknown }>;

function cognitoVerifier(userPoolId: string, clientId: string): Verify {
  const verifier = CognitoJwtVerifier.create({ userPoolId, clientId, tokenUse: 'access' });
  return (token) => verifier.verify(token);
}

/**
 * cognito-local's pool ids (`local_...`) are not AWS pool ids, so aws-jwt-verify's Cognito verifier
 * cannot derive the issuer: the generic RSA verifier with the same checks, `token_use` and
 * `client_id` included (an access token carries the client in `client_id`, not `aud`).
 */
async function fetchLocalJwks(uri: string): Promise<ArrayBuffer> {
  const response = await fetch(uri);
  if (!response.ok) throw new FetchError(uri, `status ${response.status}`);
  return response.arrayBuffer();
}

function localVerifier(issuer: string, jwksUri: string, clientId: string): Verify {
  const verifier = JwtRsaVerifier.create(
    {
      issuer,
      jwksUri,
      audience: null,
      customJwtCheck: ({ payload }) => {
        if (payload.token_use !== 'access' || payload.client_id !== clientId) {
          throw new AuthenticationError(SESSION_REJECTED);
        }
      },
    },
    // The library's Node fetcher speaks https only (https-node.js); cognito-local serves http on
    // 127.0.0.1. Same cache, a fetcher that allows it (local mode only).
    { jwksCache: new SimpleJwksCache({ fetcher: { fetch: fetchLocalJwks } }) },
  );
  return (token) => verifier.verify(token);
}
