import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient } from '../customers/customers-repository';
import { requiredEnv } from '../http/environment';
import { METERING_TABLE_ENV } from '../metering/metering-table';
import { createReconcilerHandler } from '../metering/reconciler';

// Created once per execution environment and reused across invocations (EventBridge invokes it
// every minute).
export const handler = createReconcilerHandler(
  createDocumentClient(),
  requiredEnv(METERING_TABLE_ENV),
  new Logger({ serviceName: 'reservation-reconciler' }),
);
