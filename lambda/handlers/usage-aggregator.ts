import { createDocumentClient } from '../customers/customers-repository';
import { requiredEnv } from '../http/environment';
import { AggregateUpdater } from '../metering/aggregate-updates';
import { METERING_TABLE_ENV } from '../metering/metering-table';
import { createUsageAggregatorHandler } from '../metering/usage-stream';

// Created once per execution environment and reused across invocations.
const updater = new AggregateUpdater(createDocumentClient(), requiredEnv(METERING_TABLE_ENV));

export const handler = createUsageAggregatorHandler(updater);
