import { createDocumentClient } from '../customers/customers-repository';
import { requiredEnv } from '../http/environment';
import { METERING_TABLE_ENV } from '../metering/metering-table';
import { createUsageAggregatorHandler, UsageAggregates } from '../metering/usage-aggregates';

// Created once per execution environment and reused across invocations.
const aggregates = new UsageAggregates(createDocumentClient(), requiredEnv(METERING_TABLE_ENV));

export const handler = createUsageAggregatorHandler(aggregates);
