import { createDocumentClient } from '../adapters/customers-repository';
import { requiredEnv } from '../adapters/environment';
import { METERING_TABLE_ENV } from '../adapters/metering-table';
import { createUsageAggregatorHandler, UsageAggregates } from '../adapters/usage-aggregates';

// Created once per execution environment and reused across invocations.
const aggregates = new UsageAggregates(createDocumentClient(), requiredEnv(METERING_TABLE_ENV));

export const handler = createUsageAggregatorHandler(aggregates);
