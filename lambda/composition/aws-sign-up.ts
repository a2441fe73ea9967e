import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { TierlineConfig } from '../../lib/config/schema';
import { cognitoEndpoint, poolUserReader } from '../accounts/pool-users';
import { SESSION_USER_POOL_ID_ENV } from '../accounts/session-settings';
import type { OrganizationSignUp, SignUpApi } from '../accounts/sign-up';
import { TierSwitch, USAGE_PLANS_ENV, usagePlanSettingsFrom } from '../customers/tier-switch';

import { awsClientOptions } from '../storage/aws-clients';
import type { Stores } from './aws-stores';
import { requiredEnv } from './environment';
import { customersRepository } from './repositories';
import { signUpServices } from './sign-up';

/**
 * Sign-up in the API function: the session from the authorizer's context, the new organization's
 * API Gateway key on the Free plan (found by name: the function cannot name the stage's plan ids
 * without a dependency cycle, as billing's webhook), the address from Cognito's `GetUser`. Built
 * on the first sign-up request, so no other route reads these environment variables.
 */
export function awsSignUpApi(
  stores: Pick<Stores, 'doc' | 'tables'>,
  config: TierlineConfig,
): SignUpApi {
  let built: OrganizationSignUp | undefined;
  const service = () => {
    if (built) return built;
    const apiGateway = new APIGatewayClient(awsClientOptions());
    const plans = new TierSwitch(
      customersRepository(stores),
      apiGateway,
      usagePlanSettingsFrom(requiredEnv(USAGE_PLANS_ENV)),
      config,
    );
    built = signUpServices({ ...stores, now: undefined }, config, {
      apiGateway,
      tierPlanId: (tier) => plans.tierPlanId(tier),
      poolUser: poolUserReader(cognitoEndpoint(requiredEnv(SESSION_USER_POOL_ID_ENV))),
    });
    return built;
  };
  return {
    service: {
      signUp: (session, body) => service().signUp(session, body),
      organizations: (userId) => service().organizations(userId),
    },
  };
}
