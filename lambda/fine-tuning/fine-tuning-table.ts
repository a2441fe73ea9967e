/**
 * Key and index names of the fine-tuning table. The CDK construct builds the table from these and
 * the repository reads and writes with them. No AWS imports.
 *
 * Items:
 * - `JOB#<jobId>` / `JOB`: a fine-tuning job (OpenAI's job object and what the workflow needs),
 *   indexed by its owner (`byOwner`: `OWNER#<customerId>#JOB` / createdAt#jobId) for listing;
 * - `JOB#<jobId>` / `EVENT#<time>#<id>`: its events, each written once (the id is derived from what
 *   happened, so a duplicated EventBridge delivery or a retried task writes nothing new);
 * - `MODEL#<fine-tuned model id>` / `MODEL`: a servable adapter (trained or uploaded), with its
 *   owner and its inference component; indexed by owner (`OWNER#<customerId>#MODEL`) for
 *   `/v1/models`;
 * - `IDEM#<customerId>#<projectId>#<Idempotency-Key>` / `IDEM`: the job a create's key was claimed for (not
 *   indexed).
 */
export const FINE_TUNING_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  byOwnerIndex: { name: 'byOwner', partitionKey: 'ownerKey', sortKey: 'ownerSort' },
} as const;

/** Environment variable that carries the table name into a function. */
export const FINE_TUNING_TABLE_ENV = 'FINE_TUNING_TABLE_NAME';
/** Environment variable with the bucket of training inputs, checkpoints and adapters. */
export const FINE_TUNING_BUCKET_ENV = 'FINE_TUNING_BUCKET_NAME';
/** Environment variable with the ARN of the state machine that runs a job. */
export const FINE_TUNING_STATE_MACHINE_ENV = 'FINE_TUNING_STATE_MACHINE_ARN';

/** S3 layout of the fine-tuning bucket. The training role may read `inputs` and write `outputs` only. */
export const bucketLayout = {
  /** The training (and validation) file, copied from the customer's upload when the job is created. */
  trainingInput: (jobId: string) => `jobs/${jobId}/input/training/training.jsonl`,
  validationInput: (jobId: string) => `jobs/${jobId}/input/validation/validation.jsonl`,
  inputPrefix: (jobId: string) => `jobs/${jobId}/input/`,
  /** SageMaker writes the job's output under `<outputPrefix><training job name>/` (deploy looks for adapter.tar.gz there). */
  outputPrefix: (jobId: string) => `jobs/${jobId}/output/`,
  checkpointPrefix: (jobId: string) => `jobs/${jobId}/checkpoints/`,
  /** Base weights for training (network isolation: the job cannot download them from Hugging Face). */
  baseWeightsPrefix: (modelId: string) => `base-models/${modelId}/`,
  /** Uploaded adapters (Groq's way), repackaged as the one .tar.gz an adapter component needs. */
  uploadedAdapter: (modelKey: string) => `adapters/${modelKey}/adapter.tar.gz`,
} as const;
