import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createAuthorizerHandler } from '../customers/api-gateway-authorizer';
import { KEY_USE_RESOLUTION_MS } from '../customers/authenticate';
import { CustomersRepository } from '../customers/customers-repository';
import { CUSTOMERS_TABLE_ENV } from '../customers/customers-table';
import { requiredEnv } from '../http/environment';
import { awsClientOptions } from '../storage/aws-clients';
import { createLeanDocumentClient } from '../storage/lean-document-client';

// Created once per execution environment and reused across invocations.
const repository = new CustomersRepository(
  createLeanDocumentClient(new DynamoDBClient(awsClientOptions())),
  requiredEnv(CUSTOMERS_TABLE_ENV),
);

export const handler = createAuthorizerHandler(
  (keyHash) => repository.getKey(keyHash),
  undefined,
  (keyHash, now) => repository.recordKeyUse(keyHash, now, KEY_USE_RESOLUTION_MS),
);
