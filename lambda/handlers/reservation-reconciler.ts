import { Logger } from '@aws-lambda-powertools/logger';
import { awsStores } from '../composition/aws-stores';
import { createReconcilerHandler } from '../metering/reconciler';

// Created once per execution environment and reused across invocations (EventBridge invokes it
// every minute). Off the request path: the SDK's document client.
const stores = awsStores({ documentClient: 'sdk' });

export const handler = createReconcilerHandler(
  stores.doc,
  stores.tables.metering,
  new Logger({ serviceName: 'reservation-reconciler' }),
);
