import { createAuthorizerHandler } from '../customers/api-gateway-authorizer';
import { KEY_USE_RESOLUTION_MS } from '../customers/authenticate';
import { CustomersRepository, createDocumentClient } from '../customers/customers-repository';
import { CUSTOMERS_TABLE_ENV } from '../customers/customers-table';
import { requiredEnv } from '../http/environment';

// Created once per execution environment and reused across invocations.
const repository = new CustomersRepository(createDocumentClient(), requiredEnv(CUSTOMERS_TABLE_ENV));

export const handler = createAuthorizerHandler(
  (keyHash) => repository.getKey(keyHash),
  undefined,
  (keyHash, now) => repository.recordKeyUse(keyHash, now, KEY_USE_RESOLUTION_MS),
);
