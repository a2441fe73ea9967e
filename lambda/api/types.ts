import type { Context } from 'hono';
import type { TierlineConfig } from '../../lib/config/schema';
import type { ModelBackend } from '../adapters/backends/model-backend';
import type { CustomersRepository } from '../adapters/customers-repository';
import type { Principal } from '../domain/authenticate';

/** What the app needs from the outside world; Lambda and local mode pass their own. */
export interface ApiDependencies {
  config: TierlineConfig;
  /** Reads the caller's principal: from the authorizer's context in Lambda, by running the authorizer locally. */
  principalOf: (c: Context) => Promise<Principal>;
  customers: Pick<CustomersRepository, 'getCustomer'>;
  /** Where models run: SageMaker in AWS; an OpenAI-compatible server or the test model locally. */
  backend: ModelBackend;
  /** `owned_by` of a model in `/v1/models` (local mode names its test model there). */
  modelOwner?: (modelId: string) => string;
  /** The request id clients see in `x-request-id`; defaults to a random UUID. */
  requestIdOf?: (c: Context) => string | undefined;
  logError?: (message: string, details: Record<string, unknown>) => void;
}

export type AppEnv = { Variables: { requestId: string; principal: Principal } };
