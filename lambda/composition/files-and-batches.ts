import type { TierlineConfig } from '../../lib/config/schema';
import { BatchService } from '../batches/batch-service';
import { BatchWorker } from '../batches/batch-worker';
import type { BatchesRepository } from '../batches/batches-repository';
import { createFiles } from '../files/create-files';
import { readyFineTunes } from '../fine-tuning/model-resolver';
import type { MeteringParts } from '../metering/request-metering';
import type { Engines } from './engines';
import { batchesRepository, modelsRepository } from './repositories';

/** The Files and Uploads services and the file content store. */
export type FilesParts = ReturnType<typeof createFiles>;

/** The Files and Uploads APIs on the files table and bucket. */
export function filesServices(
  engines: Pick<Engines, 'doc' | 's3' | 'tables' | 'buckets' | 'now'>,
  config: TierlineConfig,
): FilesParts {
  return createFiles({
    doc: engines.doc,
    tableName: engines.tables.files,
    s3: engines.s3,
    bucket: engines.buckets.files,
    config: config.files,
    now: engines.now,
  });
}

/** The Batch API: batches on the files table, their work sent to the batch queue. */
export function batchServices(
  engines: Pick<Engines, 'doc' | 'tables' | 'batchQueue' | 'now'>,
  config: TierlineConfig,
  files: FilesParts,
  records: BatchesRepository = batchesRepository(engines),
): BatchService {
  return new BatchService({
    config,
    batches: records,
    files: files.files,
    queue: engines.batchQueue,
    now: engines.now,
  });
}

/**
 * The batch worker: runs a batch's lines on the model backend, billed through the same ledger and
 * spend as requests. Lines may name the owner's ready `ft:` models (one Query of the owner's models
 * per message).
 */
export function batchWorker(
  engines: Pick<Engines, 'doc' | 'tables' | 'batchQueue' | 'backend' | 'now'>,
  config: TierlineConfig,
  parts: {
    files: FilesParts;
    metering: Pick<MeteringParts, 'ledger' | 'spend'>;
    records?: BatchesRepository;
    /** Local mode stopping: lines not yet started wait for the next start. */
    stopSignal?: AbortSignal;
  },
): BatchWorker {
  return new BatchWorker({
    config,
    batches: parts.records ?? batchesRepository(engines),
    files: parts.files.files,
    storage: parts.files.storage,
    backend: engines.backend,
    ledger: parts.metering.ledger,
    spend: parts.metering.spend,
    queue: engines.batchQueue,
    fineTunes: readyFineTunes(modelsRepository(engines)),
    now: engines.now,
    stopSignal: parts.stopSignal,
  });
}
