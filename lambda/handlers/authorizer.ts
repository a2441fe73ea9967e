import { awsStores } from '../composition/aws-stores';
import { customersRepository } from '../composition/repositories';
import { createAuthorizerHandler } from '../customers/api-gateway-authorizer';
import { KEY_USE_RESOLUTION_MS } from '../customers/authenticate';

// Created once per execution environment and reused across invocations.
const repository = customersRepository(awsStores());

export const handler = createAuthorizerHandler(
  (keyHash) => repository.getKey(keyHash),
  undefined,
  (keyHash, now) => repository.recordKeyUse(keyHash, now, KEY_USE_RESOLUTION_MS),
);
