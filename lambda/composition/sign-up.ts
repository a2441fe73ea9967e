import type { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { TierlineConfig, TierName } from '../../lib/config/schema';
import { MembershipsRepository } from '../accounts/memberships';
import { OrganizationSignUp, type PoolUser } from '../accounts/sign-up';
import { SignUpClaimsRepository } from '../accounts/sign-up-claims';
import { CustomerCreation } from '../customers/customer-creation';
import { pooledUsageIdentifier } from '../customers/edge-key-pool';
import type { Engines } from './engines';
import { customersRepository } from './repositories';

export interface SignUpParts {
  /** Where the new organization's API Gateway key goes (API Gateway in AWS, the emulator locally). */
  apiGateway: Pick<APIGatewayClient, 'send'>;
  /** The Free tier's usage plan. */
  tierPlanId: (tier: TierName) => Promise<string>;
  /** Cognito's `GetUser` on the caller's access token (lambda/accounts/pool-users.ts). */
  poolUser: (accessToken: string) => Promise<PoolUser>;
}

/**
 * Self-service sign-up on the customers table: the claims, the memberships, and the operator's own
 * customer creation (lambda/customers/customer-creation.ts) on the given API Gateway.
 */
export function signUpServices(
  engines: Pick<Engines, 'doc' | 'tables' | 'now'>,
  config: TierlineConfig,
  parts: SignUpParts,
): OrganizationSignUp {
  const customers = customersRepository(engines);
  const creation = new CustomerCreation({
    customers,
    apiGateway: parts.apiGateway,
    environmentName: config.environment.name,
    tierPlanId: parts.tierPlanId,
    pooledUsageIdentifier: (tier, customerId) => pooledUsageIdentifier(config, tier, customerId),
  });
  return new OrganizationSignUp({
    claims: new SignUpClaimsRepository(engines.doc, engines.tables.customers),
    memberships: new MembershipsRepository(engines.doc, engines.tables.customers),
    customers,
    poolUser: parts.poolUser,
    createCustomer: (input, customerId) => creation.create(input, customerId),
    settings: config.signUp,
    now: engines.now,
  });
}
