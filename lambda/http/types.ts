import type { Context } from 'hono';
import type { TierlineConfig, TierName } from '../../lib/config/schema';
import type { AuditLog, AuditLogRepository } from '../accounts/audit-log';
import type { Invites } from '../accounts/invites';
import type { Members } from '../accounts/members';
import type { ProjectRateLimits } from '../accounts/project-rate-limits';
import type { Projects } from '../accounts/projects';
import type { SignUpApi } from '../accounts/sign-up';
import type { SpendAlerts } from '../accounts/spend-alerts';
import type { SpeechBackend } from '../audio/speech-backend';
import type { BatchService } from '../batches/batch-service';
import type { BillingApi } from '../billing/billing-summary';
import type { Principal, SessionIdentity } from '../customers/authenticate';
import type { CustomersRepository } from '../customers/customers-repository';
import type { FilesService } from '../files/files-service';
import type { UploadsService } from '../files/uploads-service';
import type { AdaptersService } from '../fine-tuning/adapters-service';
import type { JobsService } from '../fine-tuning/jobs-service';
import type { FineTunedModelResolver } from '../fine-tuning/model-resolver';
import type { ModelBackend } from '../inference/backends/model-backend';
import type { PromptTokenCounter } from '../inference/prompt-tokens';
import type { Limiter } from '../metering/limiter';
import type { OrganizationUsage } from '../metering/organization-usage';
import type { RequestMetering } from '../metering/request-metering';
import type { SpendTracker } from '../metering/spend';
import type { UsageAggregates } from '../metering/usage-aggregates';
import type { StoredResponses } from '../responses/responses-repository';

/** What the app needs from the outside world; Lambda and local mode pass their own. */
export interface ApiDependencies {
  config: TierlineConfig;
  /** Reads the caller's principal: from the authorizer's context in Lambda, by running the authorizer locally. */
  principalOf: (c: Context) => Promise<Principal>;
  customers: Pick<
    CustomersRepository,
    | 'getCustomer'
    | 'updateCustomer'
    | 'updateKey'
    | 'updateCustomerKeys'
    | 'getKey'
    | 'putNamedKey'
    | 'listNamedKeys'
    | 'initNamedKeySlots'
    | 'reserveNamedKeySlot'
    | 'releaseNamedKeySlots'
    | 'registerProjectKey'
    | 'forgetProjectKey'
    | 'revokeOrBar'
  >;
  /**
   * How long a customer's "active" answer is kept per process before creating routes read it again
   * (lambda/customers/active-customers.ts). @default half the config's authorizerCacheTtlSeconds
   */
  activeCustomerCacheMs?: number;
  /** Members and invites; their routes answer 404 when absent. */
  memberServices?: MemberServicesApi;
  /**
   * The verified console session behind a request, before any organization is chosen (accepting
   * an invite); undefined for an API key. Absent: no route needs it.
   */
  sessionOf?: (c: Context) => Promise<SessionIdentity | undefined>;
  /** Projects and the audit log (the administration API); its routes answer 404 when absent. */
  accounts?: AccountServicesApi;
  /** Self-service sign-up and the session's organizations; absent, their routes answer 404. */
  signUp?: SignUpApi;
  /** Where models run: SageMaker in AWS; an OpenAI-compatible server or the test model locally. */
  backend: ModelBackend;
  /** Where speech-to-text models run; absent, `/v1/audio/*` answers 404. */
  speech?: SpeechBackend;
  /** Rate limits, spend limits and the ledger of every chat completion. */
  metering: Pick<RequestMetering, 'admit' | 'headersFor' | 'countRequest'>;
  /** The limiter's counters, read for `GET /v1/limits`. */
  limiter: Pick<Limiter, 'peek'>;
  /** Usage and costs of the administration API from the ledger; absent, their routes answer 404. */
  organizationUsage?: Pick<OrganizationUsage, 'completions' | 'audioTranscriptions' | 'costs'>;
  /** Usage aggregates, for `GET /v1/usage` and this month's spend. */
  usage: Pick<UsageAggregates, 'queryUsage'>;
  /** Monthly spend tracked for spend limits. */
  spend: Pick<SpendTracker, 'getMonth' | 'catchUp' | 'setLimit'>;
  /** The Files and Uploads APIs; their routes answer 404 when absent. */
  files?: FilesApi;
  /** The Batch API; its routes answer 404 when absent. */
  batches?: BatchService;
  /** Pay-per-token billing (`/v1/billing`); its routes answer 404 when absent. */
  billing?: BillingApi;
  /** The fine-tuning jobs API; its routes answer 404 when absent. */
  fineTuningJobs?: JobsService;
  /** The caller's `ft:` models in chat completions (one GetItem, owner checked); absent: every `ft:` id is 404. */
  fineTunedModels?: Pick<FineTunedModelResolver, 'resolve' | 'forget'>;
  /** Uploaded adapters (`/v1/fine_tunings`) and fine-tuned models in `/v1/models`; their routes answer 404 when absent. */
  adapters?: AdaptersService;
  /** Stored Responses API responses; absent, the `/responses` routes answer 404. */
  responses?: StoredResponses;
  /** Prompt tokens at admission; the models' real tokenizers by default. */
  promptTokens?: Pick<PromptTokenCounter, 'count' | 'countUpTo'>;
  /** Aborted when the server shuts down: model calls stop, and what they did is billed (local mode). */
  shutdownSignal?: AbortSignal;
  /** The clock (tests). */
  now?: () => Date;
  /** `owned_by` of a model in `/v1/models` (local mode names its test model there). */
  modelOwner?: (modelId: string) => string;
  /** The request id clients see in `x-request-id`; defaults to a random UUID. */
  requestIdOf?: (c: Context) => string | undefined;
  logError?: (message: string, details: Record<string, unknown>) => void;
}

/** What the administration API and key creation use of lambda/accounts. */
export interface AccountServicesApi {
  projects: Projects;
  /** Projects' own rate limits; absent, their routes answer 404. */
  rateLimits?: Pick<
    ProjectRateLimits,
    'list' | 'modify' | 'applyToKey' | 'spendLimit' | 'setSpendLimit'
  >;
  /** Spend alerts of the organization and its projects; absent, their routes answer 404. */
  spendAlerts?: Pick<SpendAlerts, 'list' | 'create' | 'get' | 'update' | 'delete'>;
  audit: Pick<AuditLog, 'record'>;
  auditLog: Pick<AuditLogRepository, 'page'>;
}

/** Members and invites (`/organization/users`, `/organization/invites`). */
export interface MemberServicesApi {
  members: Pick<Members, 'list' | 'get' | 'setRole' | 'remove'>;
  invites: Pick<Invites, 'create' | 'list' | 'get' | 'delete' | 'accept'>;
}

/** Files (content in S3, metadata in DynamoDB) and the Uploads API for large ones. */
export interface FilesApi {
  files: FilesService;
  uploads: UploadsService;
  /** A tier's storage quota in bytes (`storageQuotaBytes`); absent: files are counted but never refused. */
  storageQuotaBytes?: (tier: TierName) => number;
}

export type AppEnv = {
  Variables: {
    requestId: string;
    principal: Principal;
    /**
     * The check that the customer is active, still running, on a creating route that awaits it
     * itself (`POST /responses`: beside its admission, off the time to first token).
     */
    activeCustomer?: Promise<void>;
  };
};
