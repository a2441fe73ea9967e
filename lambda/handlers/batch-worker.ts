import { Logger } from '@aws-lambda-powertools/logger';
import { createBatchSqsHandler } from '../batches/sqs-handler';
import { awsEngines } from '../composition/aws-engines';
import { batchWorker, filesServices } from '../composition/files-and-batches';
import { meteringServices } from '../composition/metering';
import { bundledConfig } from '../config';

// Created once per execution environment and reused across invocations.
const logger = new Logger({ serviceName: 'batch-worker' });
const config = bundledConfig();
const engines = awsEngines({
  config,
  logError: (message, details) => logger.error(message, details),
});
const worker = batchWorker(engines, config, {
  files: filesServices(engines, config),
  metering: meteringServices(engines, config),
});

export const handler = createBatchSqsHandler((message) => worker.handle(message), engines.logError);
