import { createAuthorizerHandler } from '../adapters/api-gateway-authorizer';
import { CustomersRepository, createDocumentClient } from '../adapters/customers-repository';
import { CUSTOMERS_TABLE_ENV } from '../adapters/customers-table';
import { requiredEnv } from '../adapters/environment';

// Created once per execution environment and reused across invocations.
const repository = new CustomersRepository(createDocumentClient(), requiredEnv(CUSTOMERS_TABLE_ENV));

export const handler = createAuthorizerHandler((keyHash) => repository.getKey(keyHash));
