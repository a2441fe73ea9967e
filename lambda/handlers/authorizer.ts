import { SESSION_USAGE_KEY_ENV, sessionSettingsFromEnv } from '../accounts/session-settings';
import { createSessionVerifier, isJwtShaped } from '../accounts/session-tokens';
import { awsStores } from '../composition/aws-stores';
import { customersRepository } from '../composition/repositories';
import { createAuthorizerHandler } from '../customers/api-gateway-authorizer';
import { KEY_USE_RESOLUTION_MS, type SessionAuthentication } from '../customers/authenticate';
import { requiredEnv } from '../http/environment';

// Created once per execution environment and reused across invocations.
const repository = customersRepository(awsStores());

export const handler = createAuthorizerHandler(
  (keyHash) => repository.getKey(keyHash),
  undefined,
  (keyHash, now) => repository.recordKeyUse(keyHash, now, KEY_USE_RESOLUTION_MS),
  sessionAuthentication(),
);

/**
 * Console sessions: Cognito access tokens of the console's client, verified here against the
 * pool's JWKS, which aws-jwt-verify fetches once per execution environment and caches (no call
 * per token). The decision is then cached by API Gateway per Authorization header, like a key's.
 */
function sessionAuthentication(): SessionAuthentication | undefined {
  const settings = sessionSettingsFromEnv();
  if (!settings) return undefined;
  return {
    isSessionToken: isJwtShaped,
    verify: createSessionVerifier(settings),
    usageIdentifierKey: requiredEnv(SESSION_USAGE_KEY_ENV),
  };
}
