import { Logger } from '@aws-lambda-powertools/logger';
import { createApiApp } from '../api/app';
import { bundledConfig } from '../config';
import { SageMakerBackend } from './backends/sagemaker-backend';
import { CustomersRepository, createDocumentClient } from './customers-repository';
import { CUSTOMERS_TABLE_ENV } from './customers-table';
import { requiredEnv } from './environment';
import { principalFromAuthorizer, requestIdFromEvent } from './lambda-principal';

/** The API app as it runs in Lambda: config bundled, principal from the authorizer, models on SageMaker. */
export function createLambdaApp(serviceName: string) {
  const logger = new Logger({ serviceName });
  const config = bundledConfig();
  return createApiApp({
    config,
    principalOf: principalFromAuthorizer,
    customers: new CustomersRepository(createDocumentClient(), requiredEnv(CUSTOMERS_TABLE_ENV)),
    backend: new SageMakerBackend({ env: config.environment.name }),
    requestIdOf: requestIdFromEvent,
    logError: (message, details) => logger.error(message, details),
  });
}
