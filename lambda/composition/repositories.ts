import { BatchesRepository } from '../batches/batches-repository';
import { CustomersRepository } from '../customers/customers-repository';
import { JobsRepository } from '../fine-tuning/jobs-repository';
import { ModelsRepository } from '../fine-tuning/models-repository';
import { ResponsesRepository, type StoredResponses } from '../responses/responses-repository';
import type { Stores } from './aws-stores';
import type { Tables } from './engines';

/**
 * Every repository, built one way: the document client and its table's name. Kept apart from the
 * services (which import much more) so that a function that only reads and writes tables bundles
 * these and nothing else.
 */

/** Customers and their keys (the authorizer's lookups, the account and key routes). */
export function customersRepository(
  stores: Pick<Stores, 'doc'> & { tables: Pick<Tables, 'customers'> },
): CustomersRepository {
  return new CustomersRepository(stores.doc, stores.tables.customers);
}

/** Batch records live in the files table, beside the files they read and write. */
export function batchesRepository(stores: Pick<Stores, 'doc' | 'tables'>): BatchesRepository {
  return new BatchesRepository(stores.doc, stores.tables.files);
}

/** Fine-tuning jobs and their events (the fine-tuning table). */
export function jobsRepository(stores: Pick<Stores, 'doc' | 'tables'>): JobsRepository {
  return new JobsRepository(stores.doc, stores.tables.fineTuning);
}

/** The fine-tuned model registry (the fine-tuning table). */
export function modelsRepository(stores: Pick<Stores, 'doc' | 'tables'>): ModelsRepository {
  return new ModelsRepository(stores.doc, stores.tables.fineTuning);
}

/**
 * Stored Responses API responses (the files table, beside the customer's files: one partition per
 * customer, erased with it). Made on first use, so a function that never stores one never reads
 * the files table's name.
 */
export function responsesRepository(
  stores: Pick<Stores, 'doc' | 'tables'>,
  now?: () => Date,
): StoredResponses {
  let made: ResponsesRepository | undefined;
  const repository = () => {
    made ??= new ResponsesRepository(stores.doc, stores.tables.files, { now });
    return made;
  };
  return {
    put: (owner, stored, options) => repository().put(owner, stored, options),
    get: (customerId, responseId) => repository().get(customerId, responseId),
    delete: (customerId, responseId) => repository().delete(customerId, responseId),
    countStoredInput: (owner, responseId, bytes, quotaBytes) =>
      repository().countStoredInput(owner, responseId, bytes, quotaBytes),
    releaseStoredInput: (owner, responseId) => repository().releaseStoredInput(owner, responseId),
  };
}
