import { Logger } from '@aws-lambda-powertools/logger';
import { handle } from 'hono/aws-lambda';
import { CustomersRepository, createDocumentClient } from '../adapters/customers-repository';
import { CUSTOMERS_TABLE_ENV } from '../adapters/customers-table';
import { requiredEnv } from '../adapters/environment';
import { principalFromAuthorizer, requestIdFromEvent } from '../adapters/lambda-principal';
import { createApiApp } from '../api/app';
import { bundledConfig } from '../config';

const logger = new Logger({ serviceName: 'api' });

const app = createApiApp({
  config: bundledConfig(),
  principalOf: principalFromAuthorizer,
  customers: new CustomersRepository(createDocumentClient(), requiredEnv(CUSTOMERS_TABLE_ENV)),
  requestIdOf: requestIdFromEvent,
  logError: (message, details) => logger.error(message, details),
});

// `hono/aws-lambda` is isolated in this entry file: its exports are marked deprecated in favour of
// `@hono/aws-lambda`, which is not published yet.
export const handler = handle(app);
