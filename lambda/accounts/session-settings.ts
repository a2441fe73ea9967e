/**
 * Where the console's sign-in tokens come from, and the environment variables that carry it into a
 * function. No AWS imports: bundled into the authorizer and read by the CDK construct.
 */

/** The Cognito user pool whose access tokens are console sessions. */
export const SESSION_USER_POOL_ID_ENV = 'SESSION_USER_POOL_ID';
/** The console's app client: only its tokens are sessions (another client's tokens are refused). */
export const SESSION_CLIENT_ID_ENV = 'SESSION_CLIENT_ID';

/**
 * The API Gateway key value that meters console sessions at the edge (the console's usage plan):
 * the authorizer returns it for every session, not knowing the organization.
 */
export const SESSION_USAGE_KEY_ENV = 'SESSION_USAGE_IDENTIFIER_KEY';

/**
 * Whose tokens to accept. `cognito`: a user pool in AWS (issuer and JWKS derived from the pool id by
 * aws-jwt-verify). `local`: cognito-local in local mode, which signs with its own key under its own
 * issuer (`<endpoint>/<poolId>`), so the issuer and JWKS address are given.
 */
export type SessionTokenSettings =
  | { kind: 'cognito'; userPoolId: string; clientId: string }
  | { kind: 'local'; issuer: string; jwksUri: string; clientId: string };

/** The settings a function's environment names, or undefined when it names no user pool. */
export function sessionSettingsFromEnv(
  env: Record<string, string | undefined> = process.env,
): SessionTokenSettings | undefined {
  const userPoolId = env[SESSION_USER_POOL_ID_ENV];
  const clientId = env[SESSION_CLIENT_ID_ENV];
  if (!userPoolId || !clientId) return undefined;
  return { kind: 'cognito', userPoolId, clientId };
}
