import { awsStores } from '../composition/aws-stores';
import { AggregateUpdater } from '../metering/aggregate-updates';
import { createUsageAggregatorHandler } from '../metering/usage-stream';

// Created once per execution environment and reused across invocations. Off the request path: the
// SDK's document client.
const stores = awsStores({ documentClient: 'sdk' });
const updater = new AggregateUpdater(stores.doc, stores.tables.metering);

export const handler = createUsageAggregatorHandler(updater);
