import { Logger } from '@aws-lambda-powertools/logger';
import { defaultIsContentTypeBinary } from 'hono/aws-lambda';
import { sessionAwarePrincipals } from '../composition/accounts';
import { apiServices, coreServices } from '../composition/api-services';
import { awsBillingApi } from '../composition/aws-billing';
import { awsEngines } from '../composition/aws-engines';
import { awsSignUpApi } from '../composition/aws-sign-up';
import { bundledConfig } from '../config';
import {
  principalFromAuthorizer,
  requestIdFromEvent,
  sessionFromAuthorizer,
} from '../customers/lambda-principal';
import { createApiApp } from './app';

/**
 * Which responses the buffered adapter base64-encodes. File content (JSONL) is text and goes out as
 * is: API Gateway decodes base64 only for binary media types that the client accepts.
 */
export function isBinaryResponse(contentType: string): boolean {
  return (
    !/^application\/jsonl\s*(?:;|$)/i.test(contentType) && defaultIsContentTypeBinary(contentType)
  );
}

/**
 * The API app as it runs in Lambda: config bundled, principal from the authorizer, every service
 * built by the composition root (lambda/composition/) on AWS's engines: models on SageMaker,
 * metering on DynamoDB (the lean document client: metering is on every request) with dead letters
 * in SQS and spend alerts on EventBridge; with `files`, the Files, Uploads, Batch and fine-tuning
 * APIs too.
 */
export function createLambdaApp(serviceName: string, options: { files?: boolean } = {}) {
  const logger = new Logger({ serviceName });
  const config = bundledConfig();
  const engines = awsEngines({
    config,
    logError: (message, details) => logger.error(message, details),
  });
  const services = options.files ? apiServices(engines, config) : coreServices(engines, config);
  return createApiApp({
    ...services,
    // Billing's routes are buffered ones: the API function's (`files`), not the chat function's.
    ...(options.files
      ? {
          billing: awsBillingApi(engines, config.billing.paymentGraceDays),
          // Sign-up creates an organization's API Gateway key: the API function's, not chat's.
          signUp: awsSignUpApi(engines, config),
        }
      : {}),
    principalOf: sessionAwarePrincipals(engines, config, principalFromAuthorizer),
    sessionOf: async (c) => sessionFromAuthorizer(c),
    requestIdOf: requestIdFromEvent,
  });
}
