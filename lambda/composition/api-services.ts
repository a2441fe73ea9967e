import type { TierlineConfig } from '../../lib/config/schema';
import { accountServices } from './accounts';
import type { Engines } from './engines';
import { batchServices, filesServices } from './files-and-batches';
import { fineTunedModels, fineTuningServices } from './fine-tuning';
import { memberServices } from './members';
import { type MeteringTuning, meteringServices, organizationUsageServices } from './metering';
import { batchesRepository, customersRepository, responsesRepository } from './repositories';

/**
 * What every API function runs on: customers, metering, the model backend and `ft:` models (the
 * chat function serves chat completions, Responses, models, usage and limits with these alone).
 */
export function coreServices(engines: Engines, config: TierlineConfig, tuning?: MeteringTuning) {
  const metering = meteringServices(engines, config, tuning);
  return {
    config,
    customers: customersRepository(engines),
    backend: engines.backend,
    speech: engines.speech,
    ...metering,
    fineTunedModels: fineTunedModels(engines, config),
    accounts: accountServices(engines, config),
    memberServices: memberServices(engines),
    responses: responsesRepository(engines, engines.now),
    now: engines.now,
    logError: engines.logError,
  };
}

/**
 * Every store and service the API app runs on, built from the engines and the config: the one
 * place a service is built, for the Lambda functions (http/lambda-app.ts) and local mode alike.
 * The caller adds what only it knows (how a request's principal is read, its request id) and
 * hands the result to `createApiApp`.
 *
 * A new concern is one more function in this folder, `<concern>Services(engines, config, parts)`,
 * that takes the engines it uses (a `Pick<Engines, ...>`) and the parts of other concerns it
 * builds on (`metering`, `files`), called once below; its engines, if new, are one member of
 * `Engines` with a maker in aws-engines.ts and a value in local/local-engines.ts.
 */
export function apiServices(engines: Engines, config: TierlineConfig, tuning?: MeteringTuning) {
  const core = coreServices(engines, config, tuning);
  const files = filesServices(engines, config);
  const batchRecords = batchesRepository(engines);
  const fineTuning = fineTuningServices(engines, config, { files, metering: core });
  return {
    ...core,
    files,
    batches: batchServices(engines, config, files, batchRecords),
    /** The batch records the Batch API writes (local mode's in-process worker and eraser share them). */
    batchRecords,
    fineTuningJobs: fineTuning.jobs,
    adapters: fineTuning.adapters,
    organizationUsage: organizationUsageServices(engines, config),
  };
}

export type ApiServices = ReturnType<typeof apiServices>;
