import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { bundledConfig } from '../config';
import { CustomersRepository, createDocumentClient } from '../customers/customers-repository';
import { CUSTOMERS_TABLE_ENV } from '../customers/customers-table';
import { principalFromAuthorizer, requestIdFromEvent } from '../customers/lambda-principal';
import { SageMakerBackend } from '../inference/backends/sagemaker-backend';
import { SqsDeadLetterSink } from '../metering/ledger';
import { LEDGER_DEAD_LETTERS_ENV, METERING_TABLE_ENV } from '../metering/metering-table';
import { createMetering } from '../metering/request-metering';
import { EVENT_SOURCE_ENV, EventBridgeSpendAlerts } from '../metering/spend-alerts';
import { createApiApp } from './app';
import { requiredEnv } from './environment';

/**
 * The API app as it runs in Lambda: config bundled, principal from the authorizer, models on SageMaker,
 * metering on DynamoDB with dead letters in SQS and spend alerts on EventBridge.
 */
export function createLambdaApp(serviceName: string) {
  const logger = new Logger({ serviceName });
  const config = bundledConfig();
  const doc = createDocumentClient();
  const logError = (message: string, details: Record<string, unknown>) => logger.error(message, details);
  const metering = createMetering({
    config,
    doc,
    tableName: requiredEnv(METERING_TABLE_ENV),
    deadLetters: new SqsDeadLetterSink(new SQSClient({}), requiredEnv(LEDGER_DEAD_LETTERS_ENV)),
    alerts: new EventBridgeSpendAlerts(new EventBridgeClient({}), requiredEnv(EVENT_SOURCE_ENV)),
    logError,
  });
  return createApiApp({
    config,
    principalOf: principalFromAuthorizer,
    customers: new CustomersRepository(doc, requiredEnv(CUSTOMERS_TABLE_ENV)),
    backend: new SageMakerBackend({ env: config.environment.name }),
    ...metering,
    requestIdOf: requestIdFromEvent,
    logError,
  });
}
