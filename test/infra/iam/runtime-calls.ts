/**
 * Every AWS call Tierline's principals make at run time, with the resource each touches: the table
 * the IAM simulation (`iam-simulation.test.ts`) proves against the synthesized policies, and the
 * list the SDK scan (`sdk-calls.test.ts`) checks `lambda/` against, so no call lands without its
 * permission proved.
 *
 * `sources` names the code that sends the call, as `file#enclosing function: Command` (what the
 * scan finds), or says which AWS service makes it on the principal's behalf. The KMS calls AWS
 * makes for an encrypted table, bucket, queue or topic are not listed: the simulation adds them
 * from the resource's encryption settings (`encryption.ts`).
 */
import {
  adapterComponentPrefix,
  trainingJobPrefix,
} from '../../../lambda/fine-tuning/sagemaker-names';
import {
  endpointName,
  inferenceComponentName,
} from '../../../lambda/inference/backends/sagemaker-names';
import type { TierlineConfig } from '../../../lib/config/schema';
import { acceptsVolumeKmsKey } from '../../../lib/constructs/inference/instance-types';

/** The principals: each function's role, the state machine's role, the SageMaker roles, and AWS services. */
export type RolePrincipal =
  | 'authorizer'
  | 'api'
  | 'chat'
  | 'batchWorker'
  | 'aggregator'
  | 'reconciler'
  | 'billingSender'
  | 'billingWebhook'
  | 'fineTuningTasks'
  | 'fineTuningEvents'
  | 'stateMachine'
  | 'training'
  | 'inference'
  | 'vpcFlowLogs';
export type ServicePrincipal =
  | 'events.amazonaws.com'
  | 'cloudfront.amazonaws.com'
  | 'sns.amazonaws.com';
export type Principal = RolePrincipal | ServicePrincipal;

export type TableName = 'customers' | 'metering' | 'files' | 'fineTuning';
export type BucketName = 'files' | 'fineTuning' | 'console' | 'assets';
export type QueueName =
  | 'batches'
  | 'ledgerDeadLetters'
  | 'meteringFailures'
  | 'eventsDeadLetters'
  | 'batchesDeadLetters';
export type FunctionName = RolePrincipal &
  (
    | 'authorizer'
    | 'api'
    | 'chat'
    | 'batchWorker'
    | 'aggregator'
    | 'reconciler'
    | 'billingSender'
    | 'billingWebhook'
    | 'fineTuningTasks'
    | 'fineTuningEvents'
  );

/** Concrete ARNs of the synthesized app (account 123456789012, us-east-1), for the rows below. */
export interface Arns {
  readonly config: TierlineConfig;
  readonly environment: string;
  table(name: TableName): string;
  index(name: TableName, index: string): string;
  stream(name: TableName): string;
  bucket(name: BucketName): string;
  object(name: BucketName, key: string): string;
  /** The training code asset's object key in the bootstrap assets bucket. */
  readonly trainingCodeKey: string;
  queue(name: QueueName): string;
  readonly notificationsTopic: string;
  readonly defaultEventBus: string;
  function(name: FunctionName): string;
  logGroup(name: FunctionName): string;
  readonly stateMachine: string;
  execution(name: string): string;
  rule(
    name:
      | 'reconcileSchedule'
      | 'spendAlerts'
      | 'trainingStateChange'
      | 'batchesExpirySweep'
      | 'billingSchedule',
  ): string;
  /** The Stripe settings secret (lib/constructs/billing/usage-billing.ts) and its KMS key. */
  readonly stripeSecret: string;
  readonly stripeSecretKey: string;
  readonly distribution: string;
  /** The rule Step Functions manages to watch training jobs for `.sync`. */
  readonly stepFunctionsTrainingRule: string;
  readonly trainingRole: string;
  trainingJob(name: string): string;
  /** Base models that take adapters (the ones with an `architecture`). */
  readonly adapterModels: string[];
  /** Every model of the catalog. */
  readonly models: string[];
  /** Every speech-to-text model of the catalog (`speechModels`). */
  readonly speechModels: string[];
  /** Names of their inference components: transcription, and translation where they translate. */
  readonly speechComponents: string[];
  endpoint(modelId: string): string;
  inferenceComponent(name: string): string;
  /** ECR repository ARN of an image URI (`${AWS::Region}` allowed). */
  repository(image: string): string;
  sagemakerLogGroup(path: string): string;
  /** The fine-tuning key, also the key of the training jobs' output and volumes. */
  readonly fineTuningKey: string;
  /** Weights of a model kept in S3 (`s3://bucket/prefix/`), or undefined for a Hugging Face id. */
  weights(modelId: string): { bucket: string; prefix: string } | undefined;
  /** The key of the endpoints' ML storage volumes, where the instance types take one. */
  readonly volumeKey: string | undefined;
  /** The chat VPC's flow log group (Managed Instances only). */
  readonly flowLogGroup: string | undefined;
}

export interface RuntimeCall {
  readonly principal: Principal;
  readonly action: string;
  /** Every ARN listed is simulated. */
  readonly resources: (a: Arns) => string[];
  /** Request context a real call carries that a policy conditions on. */
  readonly context?: (a: Arns) => Record<string, string | string[]>;
  /** The code that sends it (`file#function: Command`), or `aws: <who makes it>`. */
  readonly sources: string[];
  /** Only in configurations where this holds. */
  readonly when?: (config: TierlineConfig) => boolean;
}

/** Calls in `lambda/` made only with the operator's credentials (the CLI imports these modules): no row. */
export const OPERATOR_ONLY: Record<string, string> = {
  'lambda/customers/customers-repository.ts#listCustomers: QueryCommand':
    'customer listing and usage reports',
  'lambda/batches/customer-data.ts#items: QueryCommand':
    "a deleted customer's files and batches erased",
  'lambda/batches/customer-data.ts#erase: DeleteCommand':
    "a deleted customer's files and batches erased",
  'lambda/metering/usage-report.ts#ledgerDay: QueryCommand': 'operator usage and billing reports',
  'lambda/customers/customers-repository.ts#switchKeysStatus: UpdateCommand':
    'customer suspension and restore (`tierline customers suspend|restore`)',
  'lambda/accounts/organization-people.ts#erase: DeleteCommand':
    "a deleted customer's members and invites erased",
  'lambda/accounts/invites-repository.ts#delete: DeleteCommand':
    "a deleted customer's invites erased",
  // Billing in local mode only: the embedded provider (AWS uses Stripe).
  ...Object.fromEntries(
    [
      'embedded-provider.ts#createCustomer: PutCommand',
      'embedded-provider.ts#startCheckout: PutCommand',
      'embedded-provider.ts#getCheckout: GetCommand',
      'embedded-provider.ts#completeCheckout: UpdateCommand',
      'embedded-provider.ts#reportUsage: PutCommand',
      'embedded-provider.ts#invoiceNow: GetCommand',
      'embedded-provider.ts#invoiceNow: UpdateCommand',
      'embedded-provider.ts#invoiceNow: PutCommand',
      'embedded-provider.ts#cancelAtPeriodEnd: UpdateCommand',
      'embedded-provider.ts#cancelAt: GetCommand',
      'embedded-provider.ts#paymentMethod: GetCommand',
    ].map((call) => [`lambda/billing/${call}`, 'local mode billing (embedded provider, upgrades)']),
  ),
};

const src = (file: string, ...calls: string[]) => calls.map((call) => `lambda/${file}#${call}`);
const roles = (principals: RolePrincipal[], call: Omit<RuntimeCall, 'principal'>): RuntimeCall[] =>
  principals.map((principal) => ({ principal, ...call }));
const adaptersOn = (config: TierlineConfig) =>
  Object.values(config.models).some((m) => m.architecture);
const trainingOn = (config: TierlineConfig) =>
  Object.values(config.models).some((m) => m.trainingInstanceType);
const weightsInS3 = (config: TierlineConfig) =>
  Object.values(config.models).some((m) => m.weights.startsWith('s3://'));
const volumeKeyed = (config: TierlineConfig) =>
  Object.values(config.models).some((m) => acceptsVolumeKmsKey(m.instanceType));
const trainableWithS3Weights = (a: Arns) =>
  a.models.flatMap((m) => {
    const weights = a.weights(m);
    return weights && a.config.models[m]?.trainingInstanceType ? [weights] : [];
  });

// Example keys, shaped as the code writes them (the policies scope by prefix and leading key).
const CUSTOMER = 'cus_0123456789abcdef';
const FILE_KEY = `files/${CUSTOMER}/file-0123456789abcdef.jsonl`;
const PART_KEY = `parts/${CUSTOMER}/upload-0123456789abcdef/part-1`;
const JOB = 'ftjob-0123456789abcdef';

/** Metering: admission, settlement, ledger, spend, aggregates (one table), by every function that meters. */
const METERING_FUNCTIONS: RolePrincipal[] = ['api', 'chat', 'batchWorker', 'fineTuningTasks'];
const metering: RuntimeCall[] = [
  ...roles(METERING_FUNCTIONS, {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('metering')],
    sources: [
      ...src('metering/limiter.ts', 'heldAt: GetCommand', 'read: GetCommand'),
      ...src('metering/ledger.ts', 'get: GetCommand'),
      ...src(
        'metering/spend.ts',
        'findHold: GetCommand',
        'readItem: GetCommand',
        'settleBatchRemainder: GetCommand',
      ),
      // The customers' spend alerts: their rules, read by a settle that crosses one.
      ...src('metering/spend-alert-rules.ts', 'read: GetCommand'),
      ...src('metering/aggregate-updates.ts', 'apply: GetCommand'),
    ],
  }),
  ...roles(METERING_FUNCTIONS, {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('metering')],
    sources: [
      ...src('metering/limiter.ts', 'adjust: UpdateCommand', 'conditionalUpdate: UpdateCommand'),
      ...src('metering/reservations.ts', 'reindex: UpdateCommand'),
      ...src(
        'metering/spend.ts',
        'catchUp: UpdateCommand',
        'mark: UpdateCommand',
        'reserve: UpdateCommand',
        'setLimit: UpdateCommand',
        'settle: UpdateCommand',
        'settleBatchRemainder: UpdateCommand',
        'unmark: UpdateCommand',
      ),
      // Thresholds on the month item, and an alert's sent mark (taken back when mail failed).
      ...src(
        'metering/spend-alert-rules.ts',
        'markSent: UpdateCommand',
        'unmark: UpdateCommand',
        'writeOn: UpdateCommand',
      ),
      ...src(
        'metering/aggregate-updates.ts',
        'apply: UpdateCommand',
        'claim: UpdateCommand',
        'increment: UpdateCommand',
        'recomputeDay: UpdateCommand',
        'removeMarker: UpdateCommand',
      ),
    ],
  }),
  ...roles(METERING_FUNCTIONS, {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('metering')],
    sources: src('metering/ledger.ts', 'put: PutCommand'),
  }),
  // `/v1/organization/spend_alerts`: a scope's alert rules, one versioned item.
  ...roles(['api'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('metering')],
    sources: src('metering/spend-alert-rules.ts', 'change: PutCommand'),
  }),
  ...roles(METERING_FUNCTIONS, {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('metering', 'byCustomerDay'), a.table('metering')],
    sources: [
      ...src('metering/usage-aggregates.ts', 'queryUsage: QueryCommand'),
      // Organization usage reads its day ranges through queryAll.
      ...src('storage/query-pages.ts', 'queryAll: QueryCommand'),
      ...src(
        'metering/aggregate-updates.ts',
        'aggregatesOfDay: QueryCommand',
        'ledgerOfDay: QueryCommand',
      ),
    ],
  }),
  ...roles(METERING_FUNCTIONS, {
    action: 'sqs:SendMessage',
    resources: (a) => [a.queue('ledgerDeadLetters')],
    sources: src('metering/ledger.ts', 'send: SendMessageCommand'),
  }),
  ...roles(METERING_FUNCTIONS, {
    action: 'events:PutEvents',
    resources: (a) => [a.defaultEventBus],
    context: (a) => ({
      'events:source': `tierline.${a.environment}`,
      'events:detail-type': 'Spend limit threshold reached',
    }),
    sources: src('metering/spend-alerts.ts', 'publish: PutEventsCommand'),
  }),
  // The reconciler: due reservations from the due index, then each counter item itself, billed and
  // released.
  ...roles(['reconciler'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('metering', 'byCustomerDay')],
    sources: src('metering/reservations.ts', 'due: QueryCommand'),
  }),
  ...roles(['reconciler'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('metering')],
    sources: [
      ...src('metering/limiter.ts', 'heldAt: GetCommand'),
      ...src('metering/ledger.ts', 'get: GetCommand'),
      ...src('metering/spend.ts', 'findHold: GetCommand', 'readItem: GetCommand'),
    ],
  }),
  ...roles(['reconciler'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('metering')],
    sources: [
      ...src('metering/limiter.ts', 'adjust: UpdateCommand'),
      ...src('metering/reservations.ts', 'reindex: UpdateCommand'),
      ...src(
        'metering/spend.ts',
        'settle: UpdateCommand',
        'catchUp: UpdateCommand',
        'mark: UpdateCommand',
        'unmark: UpdateCommand',
      ),
    ],
  }),
  ...roles(['reconciler'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('metering')],
    sources: src('metering/ledger.ts', 'put: PutCommand'),
  }),
  // The billing sender: the ledger by hour (the customer-day index), the billing accounts (one
  // partition) and each line's sent state, written ahead and committed; the Stripe settings.
  ...roles(['billingSender'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('metering', 'byCustomerDay'), a.table('metering')],
    sources: [
      ...src('storage/query-pages.ts', 'queryAll: QueryCommand'),
      ...src('billing/usage-sender.ts', 'sentStates: QueryCommand'),
    ],
  }),
  ...roles(['billingSender'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('metering')],
    sources: src('billing/usage-sender.ts', 'writeAhead: PutCommand'),
  }),
  ...roles(['billingSender'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('metering')],
    sources: [
      ...src(
        'billing/usage-sender.ts',
        'writeAhead: UpdateCommand',
        'finishPending: UpdateCommand',
      ),
      ...src('billing/billing-accounts.ts', 'markSettled: UpdateCommand'),
    ],
  }),
  ...roles(['billingSender'], {
    action: 'secretsmanager:GetSecretValue',
    resources: (a) => [a.stripeSecret],
    sources: src('billing/stripe-settings.ts', 'readStripeSettings: GetSecretValueCommand'),
  }),
  ...roles(['billingSender'], {
    action: 'kms:Decrypt',
    resources: (a) => [a.stripeSecretKey],
    context: () => ({ 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' }),
    sources: ['aws: Secrets Manager (decrypting the Stripe secret for GetSecretValue)'],
  }),
  // The aggregator: the metering table's stream (read by Lambda's event source mapping with the
  // function's role), aggregates updated, failed batches sent to the on-failure destination.
  ...roles(['aggregator'], {
    action: 'dynamodb:GetRecords',
    resources: (a) => [a.stream('metering')],
    sources: ['aws: Lambda event source mapping (DynamoDB stream)'],
  }),
  ...roles(['aggregator'], {
    action: 'dynamodb:GetShardIterator',
    resources: (a) => [a.stream('metering')],
    sources: ['aws: Lambda event source mapping (DynamoDB stream)'],
  }),
  ...roles(['aggregator'], {
    action: 'dynamodb:DescribeStream',
    resources: (a) => [a.stream('metering')],
    sources: ['aws: Lambda event source mapping (DynamoDB stream)'],
  }),
  ...roles(['aggregator'], {
    action: 'dynamodb:ListStreams',
    resources: () => ['*'],
    sources: ['aws: Lambda event source mapping (DynamoDB stream)'],
  }),
  ...roles(['aggregator'], {
    action: 'sqs:SendMessage',
    resources: (a) => [a.queue('meteringFailures')],
    sources: ['aws: Lambda event source mapping (on-failure destination)'],
  }),
  ...roles(['aggregator'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('metering')],
    sources: src('metering/aggregate-updates.ts', 'apply: UpdateCommand', 'claim: UpdateCommand'),
  }),
  ...roles(['aggregator'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('metering')],
    sources: src('metering/aggregate-updates.ts', 'apply: GetCommand'),
  }),
];

/** Customers: the authorizer resolves keys; the API and chat functions read customers and manage named keys. */
const customers: RuntimeCall[] = [
  ...roles(['authorizer', 'api', 'chat'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('customers')],
    sources: src(
      'customers/customers-repository.ts',
      'getKey: GetCommand',
      'getCustomer: GetCommand',
    ),
  }),
  // The authorizer records when a key was last used: one attribute of a key item, nothing returned.
  ...roles(['authorizer'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('customers')],
    context: () => ({
      'dynamodb:LeadingKeys': [
        'KEY#0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      ],
      'dynamodb:Attributes': ['pk', 'sk', 'lastUsedAt'],
      'dynamodb:ReturnValues': 'NONE',
    }),
    sources: src('customers/customers-repository.ts', 'recordKeyUse: UpdateCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('customers')],
    sources: src(
      'customers/customers-repository.ts',
      'updateCustomer: UpdateCommand',
      'updateKey: UpdateCommand',
      'setProjectLimits: UpdateCommand',
      'initNamedKeySlots: UpdateCommand',
      'reserveNamedKeySlot: UpdateCommand',
      'releaseNamedKeySlots: UpdateCommand',
      // A project key's hash on its project's item, and an archive revoking (or barring) it.
      'registerProjectKey: UpdateCommand',
      'forgetProjectKey: UpdateCommand',
      'revokeOrBar: UpdateCommand',
    ),
  }),
  ...roles(['api'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('customers')],
    sources: src('customers/customers-repository.ts', 'putNamedKey: PutCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('customers', 'byCreated')],
    sources: src('customers/customers-repository.ts', 'listNamedKeys: QueryCommand'),
  }),
  // Console sessions: the API functions check the session's membership and list the user's
  // organizations, only in users' partitions.
  ...roles(['api', 'chat'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('customers')],
    sources: src('accounts/memberships.ts', 'get: GetCommand'),
  }),
  ...roles(['api', 'chat'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.table('customers')],
    context: () => ({ 'dynamodb:LeadingKeys': ['USER#0b6a2f1e-6d3c-4a8e-9f00-123456789abc'] }),
    sources: src('accounts/memberships.ts', 'listForUser: QueryCommand'),
  }),
  // Projects and the audit log (OpenAI's administration API) live in the customers table, under
  // the organization's partitions (`CUSTOMER#<id>` / `PROJECT#...`, `AUDIT#<id>`). The chat
  // function reads a project when a session or admin key names one in OpenAI-Project.
  ...roles(['api', 'chat'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('customers')],
    sources: src('accounts/projects.ts', 'get: GetCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('customers')],
    sources: src('accounts/projects.ts', 'takeSlot: GetCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.table('customers')],
    context: () => ({ 'dynamodb:LeadingKeys': ['CUSTOMER#cus_0123456789'] }),
    sources: src('accounts/projects.ts', 'list: QueryCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('customers')],
    sources: [
      ...src('accounts/projects.ts', 'create: PutCommand', 'takeSlot: PutCommand'),
      ...src('accounts/audit-log.ts', 'put: PutCommand'),
    ],
  }),
  ...roles(['api'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('customers')],
    sources: src(
      'accounts/projects.ts',
      'rename: UpdateCommand',
      'archive: UpdateCommand',
      'changeLimits: UpdateCommand',
      'takeSlot: UpdateCommand',
    ),
  }),
  ...roles(['api'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.table('customers')],
    context: () => ({ 'dynamodb:LeadingKeys': ['AUDIT#cus_0123456789'] }),
    sources: src('accounts/audit-log.ts', 'page: QueryCommand'),
  }),
  // Memberships are written by the API (sign-up and invitations, issue 22; in this branch only
  // local mode's tests call it): PutItem on the table, as named keys are.
  ...roles(['api'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('customers')],
    sources: src('accounts/memberships.ts', 'put: PutCommand'),
  }),
  // Members and invites (`/organization/users`, `/organization/invites`, accepting an invite):
  // memberships, the owners guard (`ORG#<id>` / `OWNERS`) and invites (`INVITES#<id>`), all in the
  // customers table; deletes only in users' and invites' partitions.
  ...roles(['api'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('customers')],
    sources: [
      ...src('accounts/invites-repository.ts', 'get: GetCommand'),
      ...src('accounts/organization-owners.ts', 'ensure: GetCommand'),
    ],
  }),
  ...roles(['api'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('customers')],
    sources: [
      ...src('accounts/invites-repository.ts', 'send: PutCommand', 'replaceAccepted: PutCommand'),
      ...src('accounts/memberships.ts', 'add: PutCommand'),
      ...src('accounts/organization-owners.ts', 'ensure: PutCommand'),
    ],
  }),
  ...roles(['api'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('customers')],
    sources: [
      ...src('accounts/invites-repository.ts', 'accept: UpdateCommand', 'send: UpdateCommand'),
      ...src('accounts/memberships.ts', 'setRole: UpdateCommand'),
      ...src('accounts/organization-owners.ts', 'add: UpdateCommand', 'release: UpdateCommand'),
    ],
  }),
  ...roles(['api'], {
    action: 'dynamodb:DeleteItem',
    resources: (a) => [a.table('customers')],
    context: () => ({ 'dynamodb:LeadingKeys': ['USER#0b6a2f1e-6d3c-4a8e-9f00-123456789abc'] }),
    sources: src('accounts/memberships.ts', 'delete: DeleteCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:DeleteItem',
    resources: (a) => [a.table('customers')],
    context: () => ({ 'dynamodb:LeadingKeys': ['INVITES#cus_0123456789'] }),
    sources: src(
      'accounts/invites-repository.ts',
      'deletePending: DeleteCommand',
      'deleteAcceptedBy: DeleteCommand',
    ),
  }),
  ...roles(['api'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.table('customers')],
    context: () => ({ 'dynamodb:LeadingKeys': ['INVITES#cus_0123456789'] }),
    sources: src('storage/query-pages.ts', 'queryAll: QueryCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('customers', 'byCreated')],
    sources: src('storage/query-pages.ts', 'queryAll: QueryCommand'),
  }),
  // The console's address for invitation links (its parameter breaks a dependency cycle).
  ...roles(['api'], {
    action: 'ssm:GetParameter',
    resources: (a) => [
      `arn:aws:ssm:us-east-1:123456789012:parameter/tierline/${a.environment}/console-url`,
    ],
    sources: src('composition/aws-invitations.ts', 'readConsoleUrl: GetParameterCommand'),
  }),
];

/**
 * Calls in `lambda/` that IAM does not authorize, by SDK. None today: Cognito's `GetUser` (the
 * user's own access token authorizes it) is sent with fetch by lambda/accounts/pool-users.ts, for
 * sign-up and invites alike.
 */
export const NO_IAM: Record<string, string> = {};

/**
 * Stored Responses API responses, in the files table: the chat function (which serves `POST
 * /v1/responses`) writes them and reads the one `previous_response_id` names; the API function
 * reads, lists the input items of, deletes them, and reads them for `input_tokens`.
 */
const storedResponses: RuntimeCall[] = [
  ...roles(['api', 'chat'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('files')],
    sources: src('responses/responses-repository.ts', 'get: GetCommand'),
  }),
  ...roles(['api', 'chat'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.table('files')],
    sources: src('storage/query-pages.ts', 'queryAll: QueryCommand'),
  }),
  ...roles(['chat'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('files')],
    sources: src('responses/responses-repository.ts', 'writeItems: PutCommand'),
  }),
  // The input the model never sees (turns truncation dropped, reasoning items), counted against
  // the storage quota (files' counter) before the model runs, kept when the response is stored,
  // given back when it is not or is deleted; a refusal recounts the customer's files and counted
  // items first.
  ...roles(['chat'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('files')],
    sources: src(
      'files/files-repository.ts',
      'countStored: PutCommand',
      'recountStorage: PutCommand',
    ),
  }),
  ...roles(['chat'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('files')],
    sources: src(
      'files/files-repository.ts',
      'recountStorage: GetCommand',
      'storedBytes: GetCommand',
    ),
  }),
  ...roles(['chat'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('files')],
    sources: src(
      'files/files-repository.ts',
      'countStored: UpdateCommand',
      'keepCounted: UpdateCommand',
      'releaseCounted: UpdateCommand',
      'reserveStorage: UpdateCommand',
    ),
  }),
  ...roles(['api'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('files')],
    sources: src('files/files-repository.ts', 'releaseCounted: UpdateCommand'),
  }),
  // DELETE of a response still streaming: the tombstone naming the deleting project.
  ...roles(['api'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('files')],
    sources: src('responses/responses-repository.ts', 'leaveTombstone: UpdateCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:DeleteItem',
    resources: (a) => [a.table('files')],
    sources: src(
      'responses/responses-repository.ts',
      'delete: DeleteCommand',
      'deleteHead: DeleteCommand',
    ),
  }),
];

/** Files, uploads and batches: the API function and the batch worker, on the files table and bucket. */
const FILES_FUNCTIONS: RolePrincipal[] = ['api', 'batchWorker'];
const files: RuntimeCall[] = [
  ...roles(FILES_FUNCTIONS, {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('files')],
    sources: [
      ...src(
        'files/files-repository.ts',
        'getFile: GetCommand',
        'getUpload: GetCommand',
        'recountStorage: GetCommand',
        'storedBytes: GetCommand',
      ),
      ...src(
        'batches/batches-repository.ts',
        'enqueuedTokens: GetCommand',
        'getBatch: GetCommand',
        'getLine: GetCommand',
        'openSlots: GetCommand',
        'releaseBatchEnqueuedRemainder: GetCommand',
        'takeEnqueued: GetCommand',
      ),
    ],
  }),
  ...roles(FILES_FUNCTIONS, {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('files')],
    sources: [
      ...src(
        'files/files-repository.ts',
        'holdWhileReleased: PutCommand',
        'putFile: PutCommand',
        'putPart: PutCommand',
        'putUpload: PutCommand',
        'recountStorage: PutCommand',
        'reserveStorage: PutCommand',
      ),
      ...src(
        'batches/batches-repository.ts',
        'putBatch: PutCommand',
        'putLine: PutCommand',
        'registerForSweep: PutCommand',
      ),
    ],
  }),
  ...roles(FILES_FUNCTIONS, {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('files')],
    sources: [
      ...src(
        'files/files-repository.ts',
        'countPart: UpdateCommand',
        'finishUpload: UpdateCommand',
        'reserveStorage: UpdateCommand',
        'uncountPart: UpdateCommand',
      ),
      ...src(
        'batches/batches-repository.ts',
        'countLine: UpdateCommand',
        'markSettled: UpdateCommand',
        'recount: UpdateCommand',
        'releaseBatchEnqueuedRemainder: UpdateCommand',
        'releaseEnqueued: UpdateCommand',
        'releaseLineEnqueued: UpdateCommand',
        'releaseSlot: UpdateCommand',
        'takeEnqueued: UpdateCommand',
        'takeOpenSlot: UpdateCommand',
        'transition: UpdateCommand',
      ),
    ],
  }),
  ...roles(FILES_FUNCTIONS, {
    action: 'dynamodb:DeleteItem',
    resources: (a) => [a.table('files')],
    sources: [
      ...src(
        'files/files-repository.ts',
        'deleteFile: DeleteCommand',
        'recountStorage: DeleteCommand',
        'releaseHold: DeleteCommand',
      ),
      ...src('batches/batches-repository.ts', 'releaseOpenBatch: DeleteCommand'),
    ],
  }),
  ...roles(FILES_FUNCTIONS, {
    action: 'dynamodb:Query',
    resources: (a) => [a.table('files'), a.index('files', 'byPurpose')],
    sources: [
      ...src('storage/query-pages.ts', 'queryPage: QueryCommand', 'queryAll: QueryCommand'),
      ...src(
        'batches/batches-repository.ts',
        'dueForSweep: QueryCommand',
        'openBatches: QueryCommand',
      ),
    ],
  }),
  ...roles(FILES_FUNCTIONS, {
    action: 's3:GetObject',
    resources: (a) => [a.object('files', FILE_KEY)],
    // downloadUrl: a presigned GET (getSignedUrl) is signed with the function's role: S3 checks
    // that role.
    sources: src(
      'files/file-storage.ts',
      'get: GetObjectCommand',
      'getRange: GetObjectCommand',
      'read: GetObjectCommand',
      'downloadUrl: GetObjectCommand',
    ),
  }),
  ...roles(FILES_FUNCTIONS, {
    action: 's3:PutObject',
    // CreateMultipartUpload, UploadPart and CompleteMultipartUpload are authorized as s3:PutObject.
    resources: (a) => [a.object('files', FILE_KEY), a.object('files', PART_KEY)],
    sources: src(
      'files/file-storage.ts',
      'put: PutObjectCommand',
      'compose: CreateMultipartUploadCommand',
      'compose: UploadPartCommand',
      'compose: CompleteMultipartUploadCommand',
    ),
  }),
  ...roles(FILES_FUNCTIONS, {
    action: 's3:DeleteObject',
    resources: (a) => [a.object('files', FILE_KEY), a.object('files', PART_KEY)],
    sources: src('files/file-storage.ts', 'delete: DeleteObjectCommand'),
  }),
  ...roles(['api', 'batchWorker'], {
    action: 'sqs:SendMessage',
    // SendMessageBatch is authorized as sqs:SendMessage.
    resources: (a) => [a.queue('batches')],
    sources: src('batches/batch-queue.ts', 'send: SendMessageBatchCommand'),
  }),
  // The worker's queue, read by Lambda's event source mapping with the function's role.
  ...[
    'sqs:ReceiveMessage',
    'sqs:DeleteMessage',
    'sqs:GetQueueAttributes',
    'sqs:ChangeMessageVisibility',
  ].flatMap((action) =>
    roles(['batchWorker'], {
      action,
      resources: (a) => [a.queue('batches')],
      sources: ['aws: Lambda event source mapping (SQS)'],
    }),
  ),
];

/** Models: chat completions and batch lines on the SageMaker endpoints. */
const inference: RuntimeCall[] = [
  ...['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'].flatMap((action) =>
    roles(['chat', 'batchWorker'], {
      action,
      // The endpoint is the action's required resource; the inference component a request names is
      // optional (Service Authorization Reference: "you can choose to use one of the optional
      // resource types").
      resources: (a) => a.models.map((m) => a.endpoint(m)),
      sources: src(
        'inference/backends/sagemaker-backend.ts',
        'wakeBase: InvokeEndpointCommand',
        'stream: InvokeEndpointWithResponseStreamCommand',
      ),
    }),
  ),
  // Speech-to-text: the buffered API function serves /v1/audio/*, one InvokeEndpoint each, at the
  // transcription component or (a model that translates) the translation component.
  ...roles(['api'], {
    action: 'sagemaker:InvokeEndpoint',
    resources: (a) => [
      ...a.speechModels.map((m) => a.endpoint(m)),
      ...a.speechComponents.map((name) => a.inferenceComponent(name)),
    ],
    sources: src('audio/sagemaker-transcriber.ts', 'invoke: InvokeEndpointCommand'),
    when: (config) => Object.keys(config.speechModels).length > 0,
  }),
];

/** Fine-tuning: jobs API, adapters, the workflow's tasks and events, the state machine, the training job. */
const ADAPTER = (a: Arns) =>
  a.inferenceComponent(`${adapterComponentPrefix(a.environment)}0123456789abcdef`);
const TRAINING_JOB = (a: Arns) => `${trainingJobPrefix(a.environment)}0123456789abcdef`;
const fineTuning: RuntimeCall[] = [
  // Jobs and models (one table) by the jobs API, the workflow's tasks and the training events.
  ...roles(['api', 'fineTuningTasks', 'fineTuningEvents'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('fineTuning')],
    sources: [
      ...src(
        'fine-tuning/jobs-repository.ts',
        'get: GetCommand',
        'getIdempotencyClaim: GetCommand',
      ),
      ...src('fine-tuning/models-repository.ts', 'get: GetCommand'),
    ],
  }),
  ...roles(['api', 'fineTuningTasks', 'fineTuningEvents'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('fineTuning')],
    sources: [
      ...src(
        'fine-tuning/jobs-repository.ts',
        'addEvent: PutCommand',
        'claimIdempotencyKey: PutCommand',
        'create: PutCommand',
      ),
      ...src('fine-tuning/models-repository.ts', 'create: PutCommand'),
    ],
  }),
  ...roles(['api', 'fineTuningTasks', 'fineTuningEvents'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('fineTuning')],
    sources: [
      ...src(
        'fine-tuning/jobs-repository.ts',
        'markSpendSettled: UpdateCommand',
        'recordTrainingStatus: UpdateCommand',
        'transition: UpdateCommand',
        'update: UpdateCommand',
      ),
      ...src('fine-tuning/models-repository.ts', 'transition: UpdateCommand'),
    ],
  }),
  ...roles(['api'], {
    action: 'dynamodb:DeleteItem',
    resources: (a) => [a.table('fineTuning')],
    sources: [
      ...src('fine-tuning/jobs-repository.ts', 'releaseIdempotencyKey: DeleteCommand'),
      ...src('fine-tuning/models-repository.ts', 'delete: DeleteCommand'),
    ],
  }),
  ...roles(['api', 'batchWorker'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('fineTuning', 'byOwner')],
    sources: src('fine-tuning/models-repository.ts', 'listByOwner: QueryCommand'),
  }),
  // Jobs listed by owner, a job's events listed (jobs-repository.ts through query-pages.ts).
  ...roles(['api'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('fineTuning', 'byOwner'), a.table('fineTuning')],
    sources: src('storage/query-pages.ts', 'queryPage: QueryCommand', 'queryAll: QueryCommand'),
  }),
  // ft: models in chat: the model record, and while it deploys, its component's status.
  ...roles(['chat'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('fineTuning')],
    sources: src('fine-tuning/models-repository.ts', 'get: GetCommand'),
  }),
  ...roles(['chat'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('fineTuning')],
    sources: src('fine-tuning/models-repository.ts', 'transition: UpdateCommand'),
  }),
  ...roles(['api', 'chat'], {
    action: 'sagemaker:DescribeInferenceComponent',
    resources: (a) => [ADAPTER(a)],
    sources: src(
      'fine-tuning/adapters-service.ts',
      'refreshModel: DescribeInferenceComponentCommand',
      'requireComponentGone: DescribeInferenceComponentCommand',
    ),
    when: adaptersOn,
  }),
  // Uploaded adapters: read from the files bucket, repackaged under adapters/, deployed as
  // components.
  ...roles(['api'], {
    action: 's3:GetObject',
    resources: (a) => [a.object('files', FILE_KEY)],
    sources: src(
      'fine-tuning/s3-archive-source.ts',
      's3ArchiveSource: HeadObjectCommand',
      's3ArchiveSource: GetObjectCommand',
    ),
  }),
  ...roles(['api'], {
    action: 's3:PutObject',
    resources: (a) => [
      a.object('fineTuning', `adapters/${CUSTOMER}-0123456789abcdef/adapter.tar.gz`),
    ],
    sources: src(
      'files/file-storage.ts',
      'compose: CreateMultipartUploadCommand',
      'compose: UploadPartCommand',
      'compose: CompleteMultipartUploadCommand',
    ),
  }),
  ...roles(['api'], {
    action: 's3:DeleteObject',
    resources: (a) => [
      a.object('fineTuning', `adapters/${CUSTOMER}-0123456789abcdef/adapter.tar.gz`),
    ],
    sources: src('fine-tuning/adapters-service.ts', 'delete: DeleteObjectCommand'),
  }),
  ...['sagemaker:CreateInferenceComponent', 'sagemaker:AddTags'].flatMap((action) =>
    roles(['api', 'fineTuningTasks'], {
      action,
      resources: (a) => [ADAPTER(a), ...a.adapterModels.map((m) => a.endpoint(m))],
      sources: [
        ...src(
          'fine-tuning/adapters-service.ts',
          'createComponent: CreateInferenceComponentCommand',
        ),
        ...src('fine-tuning/workflow-tasks.ts', 'checkAdapter: CreateInferenceComponentCommand'),
      ],
      when: adaptersOn,
    }),
  ),
  ...roles(['api', 'fineTuningTasks'], {
    action: 'sagemaker:DeleteInferenceComponent',
    resources: (a) => [ADAPTER(a)],
    sources: [
      ...src('fine-tuning/adapters-service.ts', 'delete: DeleteInferenceComponentCommand'),
      ...src('fine-tuning/workflow-tasks.ts', 'fail: DeleteInferenceComponentCommand'),
    ],
    when: adaptersOn,
  }),
  ...roles(['fineTuningTasks'], {
    action: 'sagemaker:DescribeInferenceComponent',
    resources: (a) => [ADAPTER(a)],
    sources: src(
      'fine-tuning/workflow-tasks.ts',
      'checkInService: DescribeInferenceComponentCommand',
    ),
    when: adaptersOn,
  }),
  // The jobs API: training inputs copied from the files bucket, checkpoints listed, executions
  // started and stopped.
  ...roles(['api'], {
    action: 's3:GetObject',
    resources: (a) => [
      a.object('files', FILE_KEY),
      a.object('fineTuning', `jobs/${JOB}/checkpoints/checkpoint-10/checkpoint.json`),
    ],
    sources: [
      ...src(
        'fine-tuning/job-storage.ts',
        'copyInput: CopyObjectCommand',
        'readMarker: GetObjectCommand',
      ),
    ],
    when: trainingOn,
  }),
  ...roles(['api'], {
    action: 's3:PutObject',
    resources: (a) => [a.object('fineTuning', `jobs/${JOB}/input/training.jsonl`)],
    sources: src('fine-tuning/job-storage.ts', 'copyInput: CopyObjectCommand'),
    when: trainingOn,
  }),
  ...roles(['api'], {
    action: 's3:ListBucket',
    resources: (a) => [a.bucket('fineTuning')],
    context: () => ({ 's3:prefix': `jobs/${JOB}/checkpoints/` }),
    sources: src('fine-tuning/job-storage.ts', 'checkpoints: ListObjectsV2Command'),
    when: trainingOn,
  }),
  ...roles(['api'], {
    action: 'states:StartExecution',
    resources: (a) => [a.stateMachine],
    sources: src('fine-tuning/job-launcher.ts', 'start: StartExecutionCommand'),
    when: trainingOn,
  }),
  ...roles(['api'], {
    action: 'states:StopExecution',
    resources: (a) => [a.execution(JOB)],
    sources: src('fine-tuning/job-launcher.ts', 'stop: StopExecutionCommand'),
    when: trainingOn,
  }),
  ...roles(['api'], {
    action: 'sagemaker:StopTrainingJob',
    resources: (a) => [a.trainingJob(TRAINING_JOB(a))],
    sources: src('fine-tuning/job-launcher.ts', 'stop: StopTrainingJobCommand'),
    when: trainingOn,
  }),
  // The workflow's tasks: base weights present (a one-key listing), the trained adapter read and
  // checked.
  ...roles(['fineTuningTasks'], {
    action: 's3:ListBucket',
    resources: (a) => [a.bucket('fineTuning')],
    context: () => ({ 's3:prefix': 'base-models/qwen3-32b/' }),
    sources: src('fine-tuning/workflow-tasks.ts', 'prepare: ListObjectsV2Command'),
    when: trainingOn,
  }),
  // The trained adapter is found by listing the training job's own output folder
  // (jobs/<job>/output/<training job>/).
  ...roles(['fineTuningTasks'], {
    action: 's3:ListBucket',
    resources: (a) => [a.bucket('fineTuning')],
    context: (a) => ({ 's3:prefix': `jobs/${JOB}/output/${TRAINING_JOB(a)}/` }),
    sources: src('fine-tuning/workflow-tasks.ts', 'locateAdapter: ListObjectsV2Command'),
    when: trainingOn,
  }),
  ...roles(['fineTuningTasks'], {
    action: 's3:GetObject',
    resources: (a) => [
      a.object('fineTuning', `jobs/${JOB}/output/${TRAINING_JOB(a)}/output/model/adapter.tar.gz`),
    ],
    sources: src(
      'fine-tuning/s3-archive-source.ts',
      's3ArchiveSource: HeadObjectCommand',
      's3ArchiveSource: GetObjectCommand',
    ),
    when: trainingOn,
  }),

  // The state machine: its tasks invoked, the training job run with .sync (AWS's documented policy
  // for createTrainingJob.sync: Create/Describe/Stop, ListTags, PassRole, the managed rule), logs
  // and traces.
  ...roles(['stateMachine'], {
    action: 'lambda:InvokeFunction',
    resources: (a) => [a.function('fineTuningTasks')],
    sources: ['aws: Step Functions (lambda:invoke tasks)'],
    when: trainingOn,
  }),
  ...roles(['stateMachine'], {
    action: 'sagemaker:CreateTrainingJob',
    resources: (a) => [a.trainingJob(TRAINING_JOB(a))],
    context: (a) => ({
      'sagemaker:NetworkIsolation': 'true',
      'sagemaker:InstanceTypes': [
        ...new Set(
          Object.values(a.config.models).flatMap((m) =>
            m.trainingInstanceType ? [m.trainingInstanceType] : [],
          ),
        ),
      ],
    }),
    sources: ['aws: Step Functions (sagemaker:createTrainingJob.sync)'],
    when: trainingOn,
  }),
  ...[
    'sagemaker:DescribeTrainingJob',
    'sagemaker:StopTrainingJob',
    'sagemaker:AddTags',
    'sagemaker:ListTags',
  ].flatMap((action) =>
    roles(['stateMachine'], {
      action,
      resources: (a) => [a.trainingJob(TRAINING_JOB(a))],
      sources: ['aws: Step Functions (sagemaker:createTrainingJob.sync)'],
      when: trainingOn,
    }),
  ),
  ...roles(['stateMachine'], {
    action: 'iam:PassRole',
    resources: (a) => [a.trainingRole],
    context: () => ({ 'iam:PassedToService': 'sagemaker.amazonaws.com' }),
    sources: ['aws: Step Functions (sagemaker:createTrainingJob.sync)'],
    when: trainingOn,
  }),
  ...['events:PutTargets', 'events:PutRule', 'events:DescribeRule'].flatMap((action) =>
    roles(['stateMachine'], {
      action,
      resources: (a) => [a.stepFunctionsTrainingRule],
      sources: ['aws: Step Functions (sagemaker:createTrainingJob.sync)'],
      when: trainingOn,
    }),
  ),
  ...[
    'logs:CreateLogDelivery',
    'logs:GetLogDelivery',
    'logs:UpdateLogDelivery',
    'logs:DescribeLogGroups',
    'xray:PutTraceSegments',
  ].flatMap((action) =>
    roles(['stateMachine'], {
      action,
      resources: () => ['*'],
      sources: ['aws: Step Functions (execution logs and X-Ray traces)'],
      when: trainingOn,
    }),
  ),

  // The training job (SageMaker, with the training role): channels listed and read, output and
  // checkpoints written, the image pulled, logs and metrics written.
  ...roles(['training'], {
    action: 's3:ListBucket',
    resources: (a) => [a.bucket('fineTuning')],
    context: () => ({ 's3:prefix': `jobs/${JOB}/input/training.jsonl` }),
    sources: ['aws: SageMaker training (the training channel, S3Prefix)'],
    when: trainingOn,
  }),
  ...roles(['training'], {
    action: 's3:ListBucket',
    resources: (a) => [a.bucket('fineTuning')],
    context: () => ({ 's3:prefix': 'base-models/qwen3-32b/' }),
    sources: ['aws: SageMaker training (the model channel, S3Prefix)'],
    when: trainingOn,
  }),
  ...roles(['training'], {
    action: 's3:ListBucket',
    resources: (a) => [a.bucket('fineTuning')],
    context: () => ({ 's3:prefix': `jobs/${JOB}/checkpoints/` }),
    sources: ['aws: SageMaker training (checkpoints restored on resume)'],
    when: trainingOn,
  }),
  ...roles(['training'], {
    action: 's3:ListBucket',
    resources: (a) => [a.bucket('assets')],
    context: (a) => ({ 's3:prefix': a.trainingCodeKey }),
    sources: ['aws: SageMaker training (the code channel, S3Prefix on the CDK asset)'],
    when: trainingOn,
  }),
  ...roles(['training'], {
    action: 's3:GetObject',
    resources: (a) => [
      a.object('fineTuning', `jobs/${JOB}/input/training.jsonl`),
      a.object('fineTuning', 'base-models/qwen3-32b/model.safetensors'),
      a.object('fineTuning', `jobs/${JOB}/checkpoints/checkpoint-10/adapter_model.safetensors`),
      a.object('assets', a.trainingCodeKey),
    ],
    sources: ['aws: SageMaker training (input channels)'],
    when: trainingOn,
  }),
  ...roles(['training'], {
    action: 's3:PutObject',
    resources: (a) => [
      a.object('fineTuning', `jobs/${JOB}/output/${TRAINING_JOB(a)}/output/model/adapter.tar.gz`),
      a.object('fineTuning', `jobs/${JOB}/checkpoints/checkpoint-10/adapter_model.safetensors`),
    ],
    sources: ['aws: SageMaker training (output and checkpoints)'],
    when: trainingOn,
  }),
  ...roles(['training'], {
    action: 'kms:CreateGrant',
    resources: (a) => [a.fineTuningKey],
    context: () => ({ 'kms:GrantIsForAWSResource': 'true' }),
    sources: ['aws: SageMaker training (encrypted training volume)'],
    when: trainingOn,
  }),
  ...['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'].flatMap(
    (action) =>
      roles(['training'], {
        action,
        resources: (a) => [a.repository(a.config.fineTuning.training.image)],
        sources: ['aws: SageMaker training (image pull)'],
        when: trainingOn,
      }),
  ),
  ...roles(['training', 'inference'], {
    action: 'ecr:GetAuthorizationToken',
    resources: () => ['*'],
    sources: ['aws: SageMaker (image pull)'],
  }),
  ...roles(['training', 'inference'], {
    action: 'cloudwatch:PutMetricData',
    resources: () => ['*'],
    context: () => ({ 'cloudwatch:namespace': '/aws/sagemaker/TrainingJobs' }),
    sources: ['aws: SageMaker (instance and job metrics)'],
  }),
  ...['logs:CreateLogStream', 'logs:PutLogEvents'].flatMap((action) =>
    roles(['training'], {
      action,
      resources: (a) => [
        `${a.sagemakerLogGroup('/aws/sagemaker/TrainingJobs').replace(/:\*$/, '')}:log-stream:${TRAINING_JOB(a)}/algo-1-1733500000`,
      ],
      sources: ['aws: SageMaker training (job logs)'],
      when: trainingOn,
    }),
  ),

  // The endpoints' execution role: weights kept in S3 (ModelDataSource, an S3 prefix: listed, then
  // read).
  ...roles(['inference'], {
    action: 's3:ListBucket',
    resources: (a) =>
      a.models.flatMap((m) => (a.weights(m) ? [`arn:aws:s3:::${a.weights(m)?.bucket}`] : [])),
    context: (a) => ({ 's3:prefix': a.models.flatMap((m) => a.weights(m)?.prefix ?? []) }),
    sources: ['aws: SageMaker hosting (ModelDataSource S3 prefix of weights kept in S3)'],
    when: weightsInS3,
  }),
  ...roles(['inference'], {
    action: 's3:GetObject',
    resources: (a) =>
      a.models.flatMap((m) => {
        const w = a.weights(m);
        return w ? [`arn:aws:s3:::${w.bucket}/${w.prefix}model-00001-of-00004.safetensors`] : [];
      }),
    sources: ['aws: SageMaker hosting (weights kept in S3)'],
    when: weightsInS3,
  }),
  // The volume key: EBS attaches the encrypted ML storage volume through a grant SageMaker creates.
  ...roles(['inference'], {
    action: 'kms:CreateGrant',
    resources: (a) => (a.volumeKey ? [a.volumeKey] : []),
    context: () => ({ 'kms:GrantIsForAWSResource': 'true' }),
    sources: ['aws: SageMaker hosting (encrypted ML storage volume)'],
    when: volumeKeyed,
  }),
  ...['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:DescribeKey'].flatMap((action) =>
    roles(['inference'], {
      action,
      resources: (a) => (a.volumeKey ? [a.volumeKey] : []),
      sources: ['aws: SageMaker hosting (encrypted ML storage volume)'],
      when: volumeKeyed,
    }),
  ),
  // The training job reads base weights kept in S3 outside the fine-tuning bucket; the prepare task
  // lists them.
  ...roles(['training', 'fineTuningTasks'], {
    action: 's3:ListBucket',
    resources: (a) => trainableWithS3Weights(a).map((w) => `arn:aws:s3:::${w.bucket}`),
    context: (a) => ({ 's3:prefix': trainableWithS3Weights(a).map((w) => w.prefix) }),
    sources: [
      ...src('fine-tuning/workflow-tasks.ts', 'prepare: ListObjectsV2Command'),
      'aws: SageMaker training (the model channel on weights kept in S3)',
    ],
    when: (config) => trainingOn(config) && weightsInS3(config),
  }),
  ...roles(['training'], {
    action: 's3:GetObject',
    resources: (a) =>
      trainableWithS3Weights(a).map((w) => `arn:aws:s3:::${w.bucket}/${w.prefix}config.json`),
    sources: ['aws: SageMaker training (the model channel on weights kept in S3)'],
    when: (config) => trainingOn(config) && weightsInS3(config),
  }),

  // The endpoints' execution role: adapter archives read for adapter inference components.
  ...roles(['inference'], {
    action: 's3:GetObject',
    resources: (a) => [
      a.object('fineTuning', `adapters/${CUSTOMER}-0123456789abcdef/adapter.tar.gz`),
      a.object('fineTuning', `jobs/${JOB}/output/${TRAINING_JOB(a)}/output/model/adapter.tar.gz`),
    ],
    sources: ['aws: SageMaker (Container.ArtifactUrl of an adapter inference component)'],
    when: adaptersOn,
  }),
  ...['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'].flatMap(
    (action) =>
      roles(['inference'], {
        action,
        resources: (a) => [
          ...new Set(
            [...Object.values(a.config.models), ...Object.values(a.config.speechModels)].map((m) =>
              a.repository(m.containerImage),
            ),
          ),
        ],
        sources: ['aws: SageMaker hosting (image pull)'],
      }),
  ),
  ...['logs:CreateLogStream', 'logs:PutLogEvents'].flatMap((action) =>
    roles(['inference'], {
      action,
      resources: (a) =>
        [...a.models, ...a.speechModels].flatMap((m) => [
          `${a.sagemakerLogGroup(`/aws/sagemaker/Endpoints/${endpointName(a.environment, m)}`).replace(/:\*$/, '')}:log-stream:AllTraffic/i-0123456789abcdef0`,
          `${a.sagemakerLogGroup(`/aws/sagemaker/InferenceComponents/${inferenceComponentName(a.environment, m)}`).replace(/:\*$/, '')}:log-stream:i-0123456789abcdef0`,
        ]),
      sources: ['aws: SageMaker hosting (container logs)'],
    }),
  ),
];

/** Training job state changes into job status, and the rest of each function's own plumbing. */
const plumbing: RuntimeCall[] = [
  ...roles(['fineTuningEvents'], {
    action: 'sqs:SendMessage',
    resources: (a) => [a.queue('eventsDeadLetters')],
    sources: ['aws: Lambda (asynchronous invocation dead-letter queue)'],
    when: trainingOn,
  }),
  ...(
    [
      'authorizer',
      'api',
      'chat',
      'batchWorker',
      'aggregator',
      'reconciler',
      'billingSender',
      'billingWebhook',
      'fineTuningTasks',
      'fineTuningEvents',
    ] as const
  ).flatMap((fn) => [
    ...['logs:CreateLogStream', 'logs:PutLogEvents'].map((action) => ({
      principal: fn,
      action,
      resources: (a: Arns) => [
        `${a.logGroup(fn).replace(/:\*$/, '')}:log-stream:2026/12/07/[$LATEST]0123456789abcdef`,
      ],
      sources: ['aws: Lambda (function logs)'],
    })),
    {
      principal: fn,
      action: 'xray:PutTraceSegments',
      resources: () => ['*'],
      sources: ['aws: Lambda (active tracing)'],
    },
  ]),
];

const chatOnManagedInstances = (config: TierlineConfig) =>
  config.environment.chatCompute.kind === 'managed-instances';
/** The chat VPC's flow logs (rejected traffic), delivered by VPC Flow Logs with their role. */
const flowLogs: RuntimeCall[] = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'logs:DescribeLogStreams',
].flatMap((action) =>
  roles(['vpcFlowLogs'], {
    action,
    resources: (a) => [
      `${String(a.flowLogGroup).replace(/:\*$/, '')}:log-stream:eni-0123456789abcdef0-reject`,
    ],
    sources: ['aws: VPC Flow Logs (rejected traffic of the chat VPC)'],
    when: chatOnManagedInstances,
  }),
);

/** AWS services acting on resource policies: EventBridge targets, CloudFront's origin access. */
const services: RuntimeCall[] = [
  {
    principal: 'events.amazonaws.com',
    action: 'lambda:InvokeFunction',
    resources: (a) => [a.function('reconciler')],
    context: (a) => ({
      'aws:SourceArn': a.rule('reconcileSchedule'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (reservation reconciler schedule)'],
  },
  {
    principal: 'events.amazonaws.com',
    action: 'lambda:InvokeFunction',
    resources: (a) => [a.function('billingSender')],
    context: (a) => ({
      'aws:SourceArn': a.rule('billingSchedule'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (billing sender schedule)'],
  },
  {
    principal: 'events.amazonaws.com',
    action: 'lambda:InvokeFunction',
    resources: (a) => [a.function('fineTuningEvents')],
    context: (a) => ({
      'aws:SourceArn': a.rule('trainingStateChange'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (training job state changes)'],
    when: trainingOn,
  },
  {
    principal: 'events.amazonaws.com',
    action: 'sqs:SendMessage',
    resources: (a) => [a.queue('eventsDeadLetters')],
    context: (a) => ({
      'aws:SourceArn': a.rule('trainingStateChange'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (target dead-letter queue)'],
    when: trainingOn,
  },
  {
    principal: 'events.amazonaws.com',
    action: 'sns:Publish',
    resources: (a) => [a.notificationsTopic],
    context: (a) => ({
      'aws:SourceArn': a.rule('spendAlerts'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (spend alerts to the notifications topic)'],
  },
  {
    principal: 'events.amazonaws.com',
    action: 'sqs:SendMessage',
    resources: (a) => [a.queue('meteringFailures')],
    context: (a) => ({
      'aws:SourceArn': a.rule('spendAlerts'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (spend alerts dead-letter queue)'],
  },
  {
    principal: 'events.amazonaws.com',
    action: 'sqs:SendMessage',
    resources: (a) => [a.queue('batches')],
    context: (a) => ({
      'aws:SourceArn': a.rule('batchesExpirySweep'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (batch expiry sweep)'],
  },
  {
    principal: 'events.amazonaws.com',
    action: 'sqs:SendMessage',
    resources: (a) => [a.queue('batchesDeadLetters')],
    context: (a) => ({
      'aws:SourceArn': a.rule('batchesExpirySweep'),
      'aws:SourceAccount': '123456789012',
    }),
    sources: ['aws: EventBridge (batch expiry sweep dead-letter queue)'],
  },
  {
    principal: 'cloudfront.amazonaws.com',
    action: 's3:GetObject',
    resources: (a) => [a.object('console', 'index.html')],
    context: (a) => ({ 'aws:SourceArn': a.distribution, 'aws:SourceAccount': '123456789012' }),
    sources: ['aws: CloudFront origin access control (the console)'],
  },
];

/**
 * Billing's webhook and hourly run: the billing accounts and event marks (metering table), the
 * tier switch (the customer and its keys, its API Gateway key moved between usage plans, a pooled
 * Free customer's own key made on its upgrade), the Stripe settings.
 */
const PLANS = 'arn:aws:apigateway:us-east-1::/usageplans';
const APIKEYS = 'arn:aws:apigateway:us-east-1::/apikeys';
const TAGS = 'arn:aws:apigateway:us-east-1::/tags/';
const billing: RuntimeCall[] = [
  // `/v1/billing` in the API function: the account opened at checkout, ended at the downgrade,
  // read with this month's ledger (the customer-day index) for the Billing page.
  ...roles(['api'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('metering')],
    sources: src('billing/billing-accounts.ts', 'create: PutCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('metering')],
    sources: src('billing/billing-accounts.ts', 'get: GetCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('metering')],
    sources: src('billing/billing-accounts.ts', 'setFields: UpdateCommand'),
  }),
  ...roles(['api'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('metering', 'byCustomerDay')],
    sources: src('storage/query-pages.ts', 'queryAll: QueryCommand'),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('metering')],
    sources: [
      ...src('billing/billing-service.ts', 'handle: GetCommand', 'invoiceWasPaid: GetCommand'),
      ...src('billing/billing-accounts.ts', 'get: GetCommand'),
    ],
  }),
  ...roles(['billingWebhook'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('metering')],
    sources: src(
      'billing/billing-service.ts',
      'handle: PutCommand',
      'endGraceOnPayment: PutCommand',
    ),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('metering')],
    sources: [
      ...src('billing/billing-accounts.ts', 'activate: UpdateCommand', 'setFields: UpdateCommand'),
      ...src('billing/billing-accounts.ts', 'move: UpdateCommand'),
    ],
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('customers')],
    sources: src('customers/customers-repository.ts', 'getCustomer: GetCommand'),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('customers')],
    sources: src(
      'customers/customers-repository.ts',
      'updateCustomer: UpdateCommand',
      'updateKey: UpdateCommand',
    ),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'dynamodb:Query',
    resources: (a) => [a.index('customers', 'byCreated')],
    sources: src('customers/customers-repository.ts', 'listNamedKeys: QueryCommand'),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'apigateway:GET',
    resources: () => [PLANS],
    sources: src(
      'customers/tier-switch.ts',
      'attachKey: GetUsagePlansCommand',
      'plansByName: GetUsagePlansCommand',
    ),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'apigateway:POST',
    resources: () => [`${PLANS}/a1b2c3/keys`],
    sources: src(
      'customers/tier-switch.ts',
      'attachKey: CreateUsagePlanKeyCommand',
      'moveKey: CreateUsagePlanKeyCommand',
    ),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'apigateway:DELETE',
    resources: () => [`${PLANS}/a1b2c3/keys/k1l2m3`, `${PLANS}/c9d8e7`],
    sources: src(
      'customers/tier-switch.ts',
      'attachKey: DeleteUsagePlanKeyCommand',
      'moveKey: DeleteUsagePlanKeyCommand',
      'deleteUsagePlan: DeleteUsagePlanCommand',
    ),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'apigateway:PATCH',
    resources: () => [`${PLANS}/c9d8e7`],
    sources: src('customers/tier-switch.ts', 'deleteUsagePlan: UpdateUsagePlanCommand'),
  }),
  // A pooled Free customer's upgrade: its own key looked up by value, else made (and tagged).
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'apigateway:GET',
    resources: () => [APIKEYS],
    sources: src('customers/tier-switch.ts', 'findKeyByValue: GetApiKeysCommand'),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'apigateway:POST',
    resources: () => [APIKEYS],
    sources: src('customers/customer-creation.ts', 'createGatewayKey: CreateApiKeyCommand'),
  }),
  ...roles(['billingWebhook', 'billingSender'], {
    action: 'apigateway:PUT',
    resources: () =>
      ['k1l2m3', '*'].map((id) => `${TAGS}${encodeURIComponent(`${APIKEYS}/${id}`)}`),
    sources: src('customers/customer-creation.ts', 'createGatewayKey: CreateApiKeyCommand'),
  }),
  ...roles(['billingWebhook', 'api'], {
    action: 'secretsmanager:GetSecretValue',
    resources: (a) => [a.stripeSecret],
    sources: src('billing/stripe-settings.ts', 'readStripeSettings: GetSecretValueCommand'),
  }),
  ...roles(['billingWebhook', 'api'], {
    action: 'kms:Decrypt',
    resources: (a) => [a.stripeSecretKey],
    context: () => ({ 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' }),
    sources: ['aws: Secrets Manager (decrypting the Stripe secret for GetSecretValue)'],
  }),
];

/**
 * Self-service sign-up in the API function (lambda/accounts/sign-up.ts): the address's claim and
 * attempt counts, and the operator's customer creation (lambda/customers/customer-creation.ts):
 * the e-mail claim, customer and key items, the API Gateway key on the Free plan (found by name),
 * and the repair of an interrupted create. Cognito's GetUser takes the user's token, not IAM.
 */
const signUp: RuntimeCall[] = [
  ...roles(['api'], {
    action: 'dynamodb:PutItem',
    resources: (a) => [a.table('customers')],
    sources: [
      ...src('accounts/sign-up-claims.ts', 'claim: PutCommand'),
      ...src(
        'customers/customers-repository.ts',
        'claimEmail: PutCommand',
        'putCustomer: PutCommand',
        'putKey: PutCommand',
      ),
    ],
  }),
  ...roles(['api'], {
    action: 'dynamodb:GetItem',
    resources: (a) => [a.table('customers')],
    sources: [
      ...src('accounts/sign-up-claims.ts', 'get: GetCommand'),
      ...src('customers/customers-repository.ts', 'claimEmail: GetCommand'),
    ],
  }),
  ...roles(['api'], {
    action: 'dynamodb:UpdateItem',
    resources: (a) => [a.table('customers')],
    sources: src(
      'accounts/sign-up-claims.ts',
      'takeOver: UpdateCommand',
      'complete: UpdateCommand',
      'countAttempt: UpdateCommand',
    ),
  }),
  ...[
    ['SIGNUP#ann@example.com', src('accounts/sign-up-claims.ts', 'release: DeleteCommand')],
    [
      'EMAIL#ann@example.com',
      src('customers/customers-repository.ts', 'releaseEmail: DeleteCommand'),
    ],
    [
      `CUSTOMER#${CUSTOMER}`,
      src('customers/customers-repository.ts', 'deleteCustomer: DeleteCommand'),
    ],
    [
      'KEY#0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      src('customers/customers-repository.ts', 'deleteKey: DeleteCommand'),
    ],
  ].flatMap(([leadingKey, sources]) =>
    roles(['api'], {
      action: 'dynamodb:DeleteItem',
      resources: (a) => [a.table('customers')],
      context: () => ({ 'dynamodb:LeadingKeys': [leadingKey as string] }),
      sources: sources as string[],
    }),
  ),
  ...roles(['api'], {
    action: 'apigateway:GET',
    resources: () => [PLANS, APIKEYS],
    sources: [
      ...src('customers/tier-switch.ts', 'plansByName: GetUsagePlansCommand'),
      ...src('customers/customer-creation.ts', 'cleanUpInterruptedCreate: GetApiKeysCommand'),
    ],
  }),
  ...roles(['api'], {
    action: 'apigateway:POST',
    resources: () => [APIKEYS, `${PLANS}/a1b2c3/keys`],
    sources: src(
      'customers/customer-creation.ts',
      'createGatewayKey: CreateApiKeyCommand',
      'createDedicatedKey: CreateUsagePlanKeyCommand',
    ),
  }),
  // Tag-on-create: API Gateway authorizes CreateApiKey's tags as a PUT on the key's tags
  // resource, the key's ARN URL-encoded (https://docs.aws.amazon.com/apigateway/latest/
  // developerguide/apigateway-tagging-iam-policy.html: the /tags/* resources), literally `*` for
  // a key not made yet.
  ...roles(['api'], {
    action: 'apigateway:PUT',
    resources: () =>
      ['k1l2m3', '*'].map((id) => `${TAGS}${encodeURIComponent(`${APIKEYS}/${id}`)}`),
    sources: src('customers/customer-creation.ts', 'createGatewayKey: CreateApiKeyCommand'),
  }),
  ...roles(['api'], {
    action: 'apigateway:DELETE',
    resources: () => [`${APIKEYS}/k1l2m3`],
    sources: src(
      'customers/customer-creation.ts',
      'cleanUpInterruptedCreate: DeleteApiKeyCommand',
      'undoCreate: DeleteApiKeyCommand',
    ),
  }),
];

/**
 * E-mail through Amazon SES v2, where the config names a sender: invitations (the API function),
 * billing's notices (Stripe's webhook and the hourly run), spend alerts (where spend is settled:
 * the API, chat and batch-worker functions). SES authorizes `SendEmail` against the
 * sending identity and, when one is used, the configuration set (Service Authorization Reference,
 * Amazon Simple Email Service v2).
 */
const mail: RuntimeCall[] = [
  ...roles(['api', 'chat', 'batchWorker', 'billingWebhook', 'billingSender'], {
    action: 'ses:SendEmail',
    resources: (a) => {
      const ses = 'arn:aws:ses:us-east-1:123456789012';
      const mailConfig = a.config.mail;
      if (!mailConfig) return [];
      return [
        `${ses}:identity/${mailConfig.identity}`,
        ...(mailConfig.configurationSet
          ? [`${ses}:configuration-set/${mailConfig.configurationSet}`]
          : []),
      ];
    },
    when: (config) => config.mail !== undefined,
    sources: src('mail/ses-mailer.ts', 'send: SendEmailCommand'),
  }),
];

/** The table. API Gateway's invocations of the functions are derived from the synthesized methods instead. */
export const RUNTIME_CALLS: readonly RuntimeCall[] = [
  ...metering,
  ...customers,
  ...billing,
  ...signUp,
  ...mail,
  ...files,
  ...storedResponses,
  ...inference,
  ...fineTuning,
  ...plumbing,
  ...flowLogs,
  ...services,
];
